"""The kit's own source as the Gradescope and GitHub exports carry it.

The package, its hidden suites and the reference solutions the trusted side uses as answer
keys: :data:`KIT_FILES` is the one list of what that is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.kit import REPO_ROOT

KIT_FILES = ("pyproject.toml", "README.md", "docs", "grader", "solutions")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "tests")


def copy_kit(dest: Path) -> Path:
    """Copy the kit's source into ``dest`` (a folder ``pip install -e`` accepts)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in KIT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest / name)
    return dest
