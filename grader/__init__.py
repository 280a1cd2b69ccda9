"""Autograder for the PyTorch course kit.

This module stays import-light: the sandboxed worker imports the ``grader``
package too, and sees only the modules it needs (see ``grader.sandbox``).
"""

__version__ = "0.1.0"
