"""Gradescope's result for a submission the grader could not grade: no score, a message.

``run_autograder`` runs it (``python failure_result.py RESULTS STATUS``) when the grader
exits with a non-zero status: ``RESULTS/results.json`` then says that this is not a score,
with the end of the grader's log (``RESULTS/grader.log``), for the course staff. Standard
library only: it must work whatever went wrong with the kit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LOG_CHARS = 3000


def main(results: Path, status: str) -> None:
    log = (results / "grader.log").read_text(errors="replace")[-LOG_CHARS:]
    message = (
        f"The autograder could not grade this submission (exit status {status}). "
        "This is not a score: please tell the course staff.\n\n" + log
    )
    result = {
        "score": 0,
        "output": message,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }
    (results / "results.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
