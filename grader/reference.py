"""The reference solutions, imported in the trusted process as answer keys."""

from __future__ import annotations

import importlib
import sys

from grader.config import SOLUTIONS_DIR


def load(module: str):
    """Import ``solutions/<module>.py`` (trusted code) and return it."""
    path = str(SOLUTIONS_DIR)
    if path not in sys.path:
        sys.path.append(path)
    loaded = importlib.import_module(module)
    if not str(getattr(loaded, "__file__", "")).startswith(path):
        raise ImportError(f"{module} resolved to {loaded.__file__}, not the reference solutions")
    return loaded
