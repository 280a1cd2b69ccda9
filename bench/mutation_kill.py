"""The test of one mutant (bench/mutation.py): grade the mutated submission on one exercise.

    python bench/mutation_kill.py EXERCISE SUBMISSION_FOLDER

Exits 0 when the submission keeps every graded point (the mutant survived), 1 when it lost
any (killed), 2 when the grader itself failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    exercise, folder = sys.argv[1], sys.argv[2]
    completed = subprocess.run(
        [sys.executable, "-P", "-m", "grader.cli", "run", folder, "--exercises", exercise,
         "--no-gate", "--format", "json", "--probe-timeout", "20"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    if completed.returncode != 0:
        print(completed.stderr[-2000:], file=sys.stderr)
        return 2
    result = json.loads(completed.stdout.splitlines()[-1])
    lost = result["max_score"] - result["ungraded_points"] - result["score"]
    print(f"{Path(folder).name}: {result['score']}/{result['max_score']} (lost {lost:g})")
    return 1 if lost > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
