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

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once while building the autograder image (Ubuntu, as root).
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip python3-venv bubblewrap libseccomp2
# The system's Python, which the workers' own users can read (not one under /root).
/usr/bin/python3 -m venv /opt/grader-venv
/opt/grader-venv/bin/python -m pip install --upgrade pip
/opt/grader-venv/bin/python -m pip install -e /autograder/source/kit
# Which isolation this image allows: bubblewrap, or (in a container without namespaces)
# student code as a user of its own. run_autograder checks again and records it.
/opt/grader-venv/bin/python -P -c \\
    "from grader.sandbox import policy; print('isolation:', policy.choose('strongest'))"
# The CIFAR-10 accuracy gate needs the data set; fetched once into the image. Its time limit
# is relative to the reference's training on the grading machine: measured here once, and
# again by a submission's run only where the grading container's CPU differs from this one.
DATA=/autograder/source/kit/datasets/cifar10
if /opt/grader-venv/bin/grader data prepare --root "$DATA"; then
    /opt/grader-venv/bin/grader calibrate --device cpu --isolation strongest --data-root "$DATA" \\
        || echo "calibration failed: the gate falls back to absolute seconds"
else
    echo "CIFAR-10 could not be prepared: grade with GRADER_ARGS=--no-gate"
fi
"""

GRADESCOPE_MD = """\
# This autograder on Gradescope

Upload `gradescope-autograder.zip` as the assignment's autograder (Ubuntu base image).
`setup.sh` installs bubblewrap, libseccomp and the kit, prepares CIFAR-10 and measures the
reference's training once, for the gate's time limit.

Resources (the assignment's autograder settings): the gate trains a small network on
CIFAR-10 for every submission, which needs

- **2 CPUs** (one torch thread and one loader worker; at Gradescope's default of half a CPU
  the gate's training takes four times as long, and is still judged fairly, in CPU time),
- **4 GB of memory** (the default 768 MB is too little: the training split alone is 150 MB,
  torch and a loader worker about 1.5 GB more),
- **a timeout of 20 minutes** at 2 CPUs (the hidden tests take about a minute; training at
  most 2.5 times the reference's, about 40 s of CPU on a current 2-core machine; plus, where
  the grading machine's CPU differs from the one that built the image, one run of the
  reference's training to measure it).

Isolation: `run_autograder` uses bubblewrap where the container allows it, else student
code runs as a user of its own without bubblewrap (Gradescope's containers usually refuse
the namespaces bubblewrap needs); each result's `extra_data.sandbox` says which, with the
limits that held.
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this per submission: grade /autograder/submission, write
# /autograder/results/results.json. AUTOGRADER_ROOT replaces /autograder (for tests).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GRADER_PYTHON:-/opt/grader-venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
SOURCE="$ROOT/source"
mkdir -p "$ROOT/results"
# Student code runs as a user of its own: it must not read the kit (hidden suites,
# solutions), the course configuration or the results.
chmod 700 "$SOURCE" "$ROOT/results"
CONFIG=()
[ -f "$SOURCE/grader.toml" ] && CONFIG=(--config "$SOURCE/grader.toml")
DATA=()
[ -d "$SOURCE/kit/datasets/cifar10" ] && DATA=(--data-root "$SOURCE/kit/datasets/cifar10")
# shellcheck disable=SC2086  # GRADER_ARGS is a list of options
"$PYTHON" -P -m grader.cli run "$ROOT/submission" --format gradescope --isolation strongest \\
    "${CONFIG[@]}" "${DATA[@]}" ${GRADER_ARGS:-} \\
    > "$ROOT/results/results.json.tmp" 2> "$ROOT/results/grader.log"
status=$?
if [ $status -eq 0 ]; then
    mv "$ROOT/results/results.json.tmp" "$ROOT/results/results.json"
else
    "$PYTHON" - "$ROOT/results" "$status" <<'PY'
import json, sys
from pathlib import Path
results, status = Path(sys.argv[1]), sys.argv[2]
log = (results / "grader.log").read_text(errors="replace")[-3000:]
message = ("The autograder could not grade this submission (exit status " + status + "). "
           "This is not a score: please tell the course staff.\\n\\n" + log)
(results / "results.json").write_text(json.dumps(
    {"score": 0, "output": message, "visibility": "visible", "stdout_visibility": "hidden",
     "tests": []}))
PY
fi
cat "$ROOT/results/grader.log" >&2
exit 0
"""


def build(dest: Path, *, course_file: Path | None = None) -> Path:
    """Write ``dest/gradescope-autograder.zip``."""
    archive = dest / "gradescope-autograder.zip"
    with tempfile.TemporaryDirectory(prefix="grader-export-") as scratch:
        root = Path(scratch)
        copy_kit(root / "kit")
        (root / "setup.sh").write_text(SETUP_SH)
        (root / "run_autograder").write_text(RUN_AUTOGRADER)
        (root / "GRADESCOPE.md").write_text(GRADESCOPE_MD)
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
                executable = path.name in ("setup.sh", "run_autograder")
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
