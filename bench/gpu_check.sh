#!/usr/bin/env bash
# The GPU checks, as one script for a machine with CUDA: prepare the data, the calibration of
# the gate's time limit on this GPU (grader calibrate), a whole `grader run --reference` on cuda
# with that relative limit, the cuda recipe over 5 seeds (accuracy and training time), and 3
# seeds each of 10 and 12 epochs (candidates for >= 0.65 within 15 s). Student code runs with
# the strongest isolation the machine allows. Figures land in ${OUT:-bench/results}.
# Usage: CIFAR10_SOURCE=path/to/cifar10-jpeg.tar.gz bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L; nproc
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
/usr/bin/time -f "prepare: %e s wall" python -P -m grader.cli data prepare 2>&1 | tail -3
python -P -m grader.cli calibrate --device cuda --repeats 3 --isolation strongest 2>&1 \
    | tee "$out/calibrate-cuda.txt"
python -P -m grader.cli run --reference --device cuda --isolation strongest --format json \
    > "$out/reference-cuda.jsonl"
echo "grader run --reference --device cuda: exit $?"
python - "$out/reference-cuda.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    gate = [t for t in r["tests"] if t["name"] == "test_accuracy_gate"][0]
    print(f"reference on {r['device']} ({r['isolation']}): {r['score']}/{r['max_score']} in "
          f"{r['duration_s']} s; gate {gate['status']}: {gate['metrics']}")
PY
python bench/calibrate_gate.py --device cuda --seeds 5 --out "$out/calibration-cuda.json" 2>&1 | tail -6
for epochs in 10 12; do
  python bench/calibrate_gate.py --device cuda --seeds 3 --set epochs=$epochs \
    --out "$out/calibration-cuda-epochs$epochs.json" 2>&1 | tail -4
done
