"""Public tests: run them with `pytest exercises/tests` (or `grader check`).

They import your exercise files by name from the folder above this one, or from
the folder named by the EXERCISES_DIR environment variable.
"""

import os
import sys
from pathlib import Path

EXERCISES_DIR = Path(os.environ.get("EXERCISES_DIR") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(EXERCISES_DIR))

MODULES = ("ex1_gradients", "ex2_autograd", "ex3_data", "ex4_net", "ex5_train")
# the tests of an exercise file that is not there are left out (`grader check` says which)
collect_ignore = [f"test_{m}.py" for m in MODULES if not (EXERCISES_DIR / f"{m}.py").exists()]
