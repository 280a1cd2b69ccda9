"""Public tests: run them with `pytest exercises/tests` (or `grader check`).

They import your exercise files by name from the folder above this one, or from
the folder named by the EXERCISES_DIR environment variable.
"""

import os
import sys
from pathlib import Path

EXERCISES_DIR = Path(os.environ.get("EXERCISES_DIR") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(EXERCISES_DIR))
