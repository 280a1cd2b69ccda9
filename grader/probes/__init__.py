"""Probes: small drivers that run in the sandboxed worker.

Each probe calls the student's functions on inputs chosen by the trusted suite and
returns plain data (numbers, lists, numpy arrays, tensors). Probes decide nothing:
every assertion happens on the trusted side.
"""

from __future__ import annotations

import importlib
import os
import sys

from grader.contract import SUBMISSION_ENV


def probe(func):
    """Mark a function as callable from the trusted side."""
    func.is_probe = True
    return func


class MissingFile(ImportError):
    """The exercise file a probe needs is not in the submission."""


def student(module_name: str):
    """Import the student's module ``module_name`` from the submission folder."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    root = os.environ.get(SUBMISSION_ENV, "/submission")
    if not os.path.exists(os.path.join(root, module_name + ".py")):
        raise MissingFile(f"{module_name}.py is not in the submission")
    return importlib.import_module(module_name)


@probe
def load(module: str) -> dict:
    """Import a student module (so import errors surface early); return its public names and
    the notebook cells that were skipped because they failed."""
    names = vars(student(module))
    return {
        "names": sorted(name for name in names if not name.startswith("_")),
        "skipped_cells": names.get("__grader_skipped_cells__", []),
    }


def as_tensor(array, dtype=None):
    """A numpy array from the trusted side as a fresh torch tensor."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.array(array, copy=True))
    return tensor if dtype is None else tensor.to(dtype)
