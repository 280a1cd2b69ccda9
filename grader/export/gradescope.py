"""A Gradescope autograder zip: ``setup.sh`` and ``run_autograder`` at its root, the kit in
``kit/``. Gradescope unpacks it into ``/autograder/source``, runs ``setup.sh`` once when
building the image and ``run_autograder`` per submission, which grades
``/autograder/submission`` into ``/autograder/results/results.json``. ``AUTOGRADER_ROOT``
replaces ``/autograder`` (for testing on a simulated tree); ``GRADER_ARGS`` adds options.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from grader.export.bundle import copy_kit
from grader.files import atomic_write

PROGRAMS = Path(__file__).with_name("programs")
SHIPPED = ("setup.sh", "run_autograder", "failure_result.py", "GRADESCOPE.md")
"""What the zip holds at its root beside ``kit/``: each a file of ``programs/``, copied as it
is (``setup.sh`` once per image, ``run_autograder`` per submission, ``failure_result.py``
where the grader could not grade, ``GRADESCOPE.md`` the set-up)."""
EXECUTABLE = ("setup.sh", "run_autograder")


def build(dest: Path, *, course_file: Path | None = None) -> Path:
    """Write ``dest/gradescope-autograder.zip``."""
    archive = dest / "gradescope-autograder.zip"
    with tempfile.TemporaryDirectory(prefix="grader-export-") as scratch:
        root = Path(scratch)
        copy_kit(root / "kit")
        for name in SHIPPED:
            shutil.copyfile(PROGRAMS / name, root / name)
        if course_file is not None:
            shutil.copy2(course_file, root / "grader.toml")  # either shape reads as a config
        atomic_write(archive, lambda f: _zip_tree(root, f))
    return archive


def _zip_tree(root: Path, file) -> None:
    """Every file under ``root`` into a zip written to ``file``; the two scripts executable."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                executable = path.name in EXECUTABLE
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
