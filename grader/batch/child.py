"""A batch child process: grade each staged submission named on stdin, answer on stdout.

Started by :mod:`grader.batch.pool` as ``python -P -m grader.batch.child PLAN_JSON``. Each
answer is one JSON line: the submission's id and its result (as written to ``--out``), or
why the grader could not grade it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grader.batch.store import write_result
from grader.errors import SuiteError
from grader.grading.grade import grade_staged
from grader.grading.plan import Plan


def main(plan_json: str) -> int:
    """A batch child: grade each staged submission named on stdin; answer on stdout."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the log, never into the answers
    sys.stdout = sys.stderr
    plan = Plan.from_json(plan_json)
    try:
        for line in sys.stdin:
            task = json.loads(line)
            answer = {"id": task["id"]}
            staged = Path(task["staged"]) if task["staged"] else None
            try:
                result = grade_staged(
                    task["id"], staged, plan, error=task["error"], notes=task["notes"]
                )
                write_result(result, Path(plan.out))
                answer["result"] = json.loads(result.to_json())
            except SuiteError as exc:
                answer["error"] = str(exc)
            answers.write(json.dumps(answer) + "\n")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
