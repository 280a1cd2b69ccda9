#!/usr/bin/env bash
# The GPU checks, as one script for a machine with CUDA, most telling first (each step's output
# lands in ${OUT:-bench/results} as it is made, so a run cut short keeps what it did):
#  1. (always) the machine: GPU, Python and torch, the control-group layout, bubblewrap;
#  2. the data, prepared from CIFAR10_SOURCE;
#  3. one worker on cuda in the sandbox (ex4's hidden tests), then a whole
#     `grader run --reference --device cuda` with the gate and its relative time limit;
#  4. `grader calibrate --device cuda --repeats 3` (the reference cost the limit is relative to);
#  5. six fixture submissions graded on cuda (correct, bugs, a hostile one, a broken one);
#  6. the sandbox's own tests on this machine's kernel and control groups (run on the CPU);
#  7. the cuda recipe over 5 seeds (accuracy and training time).
# Student code runs with the strongest isolation the machine allows. Where the machine has no
# bubblewrap, a bwrap binary (and the libraries it needs) can be put in .device/bwrap/.
# Usage: CIFAR10_SOURCE=path/to/cifar10-jpeg.tar.gz [STEPS="2 6"] bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
PY=${PY:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
want() { [[ " ${STEPS:-2 3 4 5 6 7} " == *" $1 "* ]]; }
step() { echo; echo "=== $* ($(date +%T), ${SECONDS}s)"; }

step "1. the machine"
nvidia-smi -L; nproc; uname -r
$PY -c "import sys, torch, torchvision; print(sys.version.split()[0], torch.__version__, \
torchvision.__version__, torch.cuda.get_device_name(0))"
echo "cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; ldconfig -p | grep -m2 libcuda.so
if ! command -v bwrap >/dev/null && [ -x .device/bwrap/bwrap ]; then
  mkdir -p /tmp/bwrap-bin
  if ldd .device/bwrap/bwrap | grep -q "not found"; then
    printf '#!/bin/sh\nexec /lib64/ld-linux-x86-64.so.2 --library-path %s %s "$@"\n' \
      "$PWD/.device/bwrap" "$PWD/.device/bwrap/bwrap" > /tmp/bwrap-bin/bwrap
    chmod 755 /tmp/bwrap-bin/bwrap
  else
    ln -sf "$PWD/.device/bwrap/bwrap" /tmp/bwrap-bin/bwrap
  fi
  export PATH=/tmp/bwrap-bin:$PATH
fi
bwrap --version && $PY -c "from grader.sandbox import bwrap, cgroups, policy; \
print('bwrap launch:', bwrap.launch_mode()); print('groups:', cgroups.detect()); \
print('reduced isolation refused because:', policy.unreadable_python())"
grader() { $PY -P -m grader.cli "$@"; }

if want 2; then
step "2. the data"
/usr/bin/time -f "prepare: %e s wall" $PY -P -m grader.cli data prepare 2>&1 | tail -3
fi

if want 3; then
step "3. a sandboxed worker on cuda, then the reference with the gate"
grader run --reference --device cuda --isolation strongest --no-gate --exercises ex4 \
  --format json > "$out/reference-cuda-ex4.jsonl"
echo "ex4 on cuda: exit $?"; head -c 600 "$out/reference-cuda-ex4.jsonl"; echo
grader run --reference --device cuda --isolation strongest --format json \
  > "$out/reference-cuda.jsonl"
echo "grader run --reference --device cuda: exit $?"
$PY - "$out/reference-cuda.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    gate = [t for t in r["tests"] if t["name"] == "test_accuracy_gate"][0]
    print(f"reference on {r['device']} ({r['isolation']}): {r['score']}/{r['max_score']} in "
          f"{r['duration_s']} s; gate {gate['status']}: {gate['metrics']}")
    for t in r["tests"]:
        if t["status"] != "passed":
            print("  not passed:", t["name"], t["status"], t["feedback"][:300])
PY
fi

if want 4; then
step "4. calibrate"
grader calibrate --device cuda --repeats 3 --isolation strongest 2>&1 | tee "$out/calibrate-cuda.txt"
fi

if want 5; then
step "5. fixtures on cuda"
fixtures=/tmp/gpu-fixtures; rm -rf $fixtures; mkdir -p $fixtures
for name in correct_tutorial_style bug_no_zero_grad bug_no_random_crop hostile_monkeypatch_ex1 \
    broken_import_error correct_notebooks_with_tutorial_cells; do
  $PY -c "import sys; sys.path.insert(0, 'tests'); from conftest import fixture_submission; \
from pathlib import Path; fixture_submission('$name', Path('$fixtures/$name'))"
done
grader run $fixtures --device cuda --isolation strongest --no-gate --jobs 4 --format json \
  --out /tmp/gpu-fixtures-out > "$out/fixtures-cuda.jsonl"
echo "fixtures on cuda: exit $?"
$PY - "$out/fixtures-cuda.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    bad = [t["name"] for t in r["tests"] if t["status"] in ("error", "timeout")]
    print(f"{r['submission']}: {r['score']}/{r['max_score']} ({r['device']}, {r['isolation']}) "
          f"errors/timeouts: {bad}")
PY
fi

if want 6; then
step "6. the sandbox's tests on this kernel"
for file in tests/test_sandbox.py tests/test_forkserver.py; do
  timeout 200 $PY -m pytest -p no:cacheprovider -q -rfEs --durations=5 "$file" 2>&1 \
    | tail -40 | tee -a "$out/sandbox-tests.txt"
done
fi

if want 7; then
step "7. the cuda recipe over 5 seeds"
$PY bench/calibrate_gate.py --device cuda --seeds 5 --out "$out/calibration-cuda.json" 2>&1 | tail -6
fi

step "done"
