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
/opt/grader-venv/bin/python -P -c \
    "from grader.sandbox import policy; print('isolation:', policy.choose('strongest'))"
# The CIFAR-10 accuracy gate needs the data set; fetched once into the image. Its time limit
# is relative to the reference's training on the grading machine: measured here once, and
# again by a submission's run only where the grading container's CPU differs from this one.
DATA=/autograder/source/kit/datasets/cifar10
if /opt/grader-venv/bin/grader data prepare --root "$DATA"; then
    /opt/grader-venv/bin/grader calibrate --device cpu --isolation strongest --data-root "$DATA" \
        || echo "calibration failed: the gate falls back to absolute seconds"
else
    echo "CIFAR-10 could not be prepared: grade with GRADER_ARGS=--no-gate"
fi
