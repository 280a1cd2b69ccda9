"""One array task on a node: its shard graded as a local run would, and a report for the submitter.

Slurm ends a task with SIGTERM (scancel, preemption, the time limit) and warns it with SIGUSR2
before its time limit; both become Ctrl-C here, the interruption a local batch already
handles: the submission in progress is dropped whole (results are written whole or not at
all), every finished one stays in ``--out``, and a rerun grades exactly the rest. The report
(``<out>/slurm/reports/<job>.json``) says which submissions the grader itself could not grade
and why; a task killed before it could write one has simply left its other results unwritten.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

from grader.batch.store import written_by_grader
from grader.errors import GraderError
from grader.files import atomic_write


def job_id() -> str:
    """This task's Slurm job id (``123_4`` for task 4 of array 123)."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and index:
        return f"{array}_{index}"
    return os.environ.get("SLURM_JOB_ID", f"pid{os.getpid()}")


def report_path(reports: Path, job: str) -> Path:
    return Path(reports) / f"{job}.json"


WHY = {
    signal.SIGTERM: "Slurm ended it (SIGTERM: scancel, preemption or its time limit)",
    signal.SIGUSR2: "its time limit was near (SIGUSR2)",
}


def _stop(signum, frame):
    why = WHY.get(signum, signal.Signals(signum).name)
    print(
        f"stopping: {why}; the submission in progress is dropped, finished ones are kept",
        file=sys.stderr,
        flush=True,
    )
    raise KeyboardInterrupt(why)


def run_task(grade, request, submissions: list, jobs: int, reports: str) -> dict:
    """Grade ``submissions`` with ``grade(request, submissions, jobs)`` (an outcome with
    ``failed``); write and return this task's report."""
    job = job_id()
    report = {
        "job": job,
        "host": socket.gethostname(),
        "submissions": [s.id for s in submissions],
        "failed": {},
        "error": "",
        "stopped": "",
    }
    cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if cpus.isdigit():  # threads for the CPUs Slurm gave this task, not for the whole node
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(cpus) // max(1, jobs))))
    previous = {how: signal.signal(how, _stop) for how in WHY}
    try:
        outcome = grade(request, submissions, jobs)
        report["failed"] = dict(outcome.failed)
    except GraderError as exc:  # nothing could be graded on this node: say why, for them all
        report["error"] = f"on {report['host']}: {exc}"
        print(f"grader: error: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt as exc:
        report["stopped"] = str(exc) or "interrupted"
        _write(reports, report)
        raise
    finally:
        for how, handler in previous.items():
            signal.signal(how, handler)
    _write(reports, report)
    return report


def _write(reports: str, report: dict) -> None:
    path = report_path(Path(reports), report["job"])
    atomic_write(path, lambda f: f.write(json.dumps(report, indent=1).encode("utf-8")))


def read_report(reports: Path, job: str) -> dict | None:
    """A task's report, if it wrote one and it is the grader's (``written_by_grader``)."""
    path = report_path(reports, job)
    if not written_by_grader(path):
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None
