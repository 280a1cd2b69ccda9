"""Follow an array from ``--out``: each result as it lands, the tasks' states, what was lost.

The submitting command learns everything from two places the tasks cannot fake for each
other: the results folder (a result counts once it is there, whole) and ``squeue``. The array
is recorded in ``<out>/slurm/array.json`` so that a later command (``--detach``, an
interrupted terminal, another login) finds it and follows it instead of grading the same
submissions a second time.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.batch.slurm import cluster
from grader.batch.slurm.task import read_report
from grader.batch.store import read_result, written_by_grader
from grader.errors import GraderError
from grader.files import atomic_write
from grader.results.model import SubmissionResult

POLL_S = 1.0
HEARTBEAT_S = 60.0
SQUEUE_PATIENCE_S = 300.0
"""squeue may fail now and then on a busy cluster; after this long it is an error."""
UNLISTED_GRACE_S = 60.0
"""A task squeue has never listed counts as ended only this long after submission."""


def folder(out: Path) -> Path:
    """``<out>/slurm``: the array record, submitit's pickles and logs, the tasks' reports."""
    return Path(out) / "slurm"


def logs(out: Path) -> Path:
    return folder(out) / "logs"


def reports(out: Path) -> Path:
    return folder(out) / "reports"


@dataclass
class Record:
    """An array that grades (or graded) into ``--out``."""

    array: str
    tasks: list[str]
    """Each task's job id, in the order of ``shards``."""
    shards: list[list[str]]
    """The submission ids each task grades."""
    exercises: list[str]
    jobs: int = 1
    """Submissions each task grades at once (``--jobs``)."""
    submitted: float = field(default_factory=time.time)
    ended: bool = False

    def save(self, out: Path) -> None:
        text = json.dumps(asdict(self), indent=1)
        atomic_write(folder(out) / "array.json", lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, out: Path) -> Record | None:
        path = folder(out) / "array.json"
        if not path.exists():
            return None
        try:
            if not written_by_grader(path):
                raise ValueError("written by another user")
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise GraderError(
                f"{path} is not an array record this grader wrote ({exc}); remove it if no "
                "Slurm array is grading into this folder"
            ) from None


@dataclass
class Followed:
    results: dict[str, SubmissionResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def active(record: Record) -> bool:
    """Does Slurm still list a task of ``record``'s array that may write results?"""
    states = cluster.states(record.array)
    if states is None:
        raise GraderError(
            f"squeue could not say whether Slurm array {record.array} still grades into this "
            "folder; try again when Slurm answers"
        )
    return any(state in cluster.ACTIVE for state in states.values())


def follow(
    record: Record,
    out: Path,
    stderr,
    *,
    on_result=None,
    total: int | None = None,
    already: int = 0,
) -> Followed:
    """Until every task of ``record``'s array has ended: each result as it lands in ``out``,
    the count of done, running, pending and failed submissions as it changes; then the
    submissions no task wrote, with the reason."""
    out = Path(out)
    owner = dict(
        (sid, job) for job, shard in zip(record.tasks, record.shards, strict=True) for sid in shard
    )
    total = total or len(owner)
    followed = Followed()
    ended: dict[str, str] = {}  # job -> its last state
    seen: set[str] = set()
    last_state: dict[str, str] = {}
    shown, shown_at, failing_since = None, 0.0, None
    start = time.monotonic()
    while True:
        states = cluster.states(record.array)
        now = time.monotonic()
        if states is None:
            failing_since = failing_since or now
            if now - failing_since > SQUEUE_PATIENCE_S:
                raise GraderError(f"squeue has not answered for {SQUEUE_PATIENCE_S:g} s")
            states = {}
            listed = False
        else:
            failing_since, listed = None, True
        for job in record.tasks:
            state = states.get(job)
            if state:
                seen.add(job)
                last_state[job] = state
            gone = (
                listed
                and state is None
                and (job in seen or time.time() - record.submitted > UNLISTED_GRACE_S)
            )
            if job not in ended and ((state and state not in cluster.ACTIVE) or gone):
                ended[job] = state or last_state.get(job, "no longer listed")
        _collect(record, out, owner, followed, stderr, on_result, total, already)
        for job, shard in zip(record.tasks, record.shards, strict=True):
            if job in ended:
                _account(job, ended[job], shard, out, followed)
        done, failed = len(followed.results), len(followed.failed)
        running = sum(
            min(record.jobs, sum(1 for sid in shard if _open(sid, followed)))
            for job, shard in zip(record.tasks, record.shards, strict=True)
            if last_state.get(job) in cluster.RUNNING and job not in ended
        )
        pending = len(owner) - done - failed - running
        counts = (done, running, pending, failed)
        if counts != shown or now - shown_at > HEARTBEAT_S:
            print(
                f"slurm array {record.array}: {done} done, {running} running, {pending} pending, "
                f"{failed} failed ({now - start:.0f} s)",
                file=stderr,
                flush=True,
            )
            shown, shown_at = counts, now
        if len(ended) == len(record.tasks):
            return followed
        time.sleep(POLL_S)


def _open(sid: str, followed: Followed) -> bool:
    return sid not in followed.results and sid not in followed.failed


def _collect(record, out, owner, followed, stderr, on_result, total, already) -> None:
    try:
        names = set(os.listdir(out))  # one listing a poll, not a look-up per submission
    except OSError:
        return
    for sid in owner:
        if sid in followed.results or f"{sid}.json" not in names:
            continue
        result = read_result(out / f"{sid}.json", record.exercises)
        if result is None:
            continue
        followed.results[sid] = result
        followed.failed.pop(sid, None)
        number = already + len(followed.results) + len(followed.failed)
        print(
            f"[{number}/{total}] {sid}: {result.score:g}/{result.max_score:g} "
            f"in {result.duration_s:.1f} s",
            file=stderr,
            flush=True,
        )
        if on_result:
            on_result(result)


def _account(job: str, state: str, shard: list[str], out: Path, followed: Followed) -> None:
    """The submissions of an ended task that have no result: why (its report, else lost)."""
    missing = [sid for sid in shard if _open(sid, followed)]
    if not missing:
        return
    report = read_report(reports(out), job) or {}
    log = logs(out) / f"{job}_0_log.err"
    for sid in missing:
        if sid in report.get("failed", {}):
            why = f"{report['failed'][sid]} (Slurm task {job})"
        elif report.get("error"):
            why = f"Slurm task {job} could not grade: {report['error']}"
        else:
            stopped = f", {report['stopped']}" if report.get("stopped") else ""
            why = (
                f"Slurm task {job} ended ({state}{stopped}) before grading it; its log: {log}; "
                "rerun the same command to grade what is missing"
            )
        followed.failed[sid] = why
