"""A class graded on a Slurm cluster: the batch as one job array, results in the same ``--out``.

- :mod:`grader.batch.slurm.cluster`: submitit's executor, the sbatch parameters, squeue and scancel;
- :mod:`grader.batch.slurm.task`: one array task on its node (Slurm's signals become Ctrl-C);
- :mod:`grader.batch.slurm.watch`: the array's record in ``<out>/slurm/`` and following it.

The submitting command splits what ``--out`` does not hold yet into shards of
``submissions_per_task``; each task grades its shard with the local batch code (``--jobs`` at
a time, each result written whole into ``--out`` on the shared file system) and the command
follows the array from that folder and ``squeue``, then ends with the same summary and
formats as a local run. What a task did not write (cancelled, timed out, preempted, its node
lost) is missing and graded by the next run, never twice: while an array still runs, any
later ``grader run`` on the same ``--out`` follows it instead of grading beside it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from grader.batch import Outcome
from grader.batch.progress import Progress
from grader.batch.slurm import cluster, watch
from grader.batch.slurm.task import run_task
from grader.batch.store import read_result
from grader.course.config import SlurmSettings
from grader.errors import GraderError
from grader.submissions.loading import Submission

__all__ = ["grade_on_slurm", "follow_running_array"]


def follow_running_array(out: Path, stderr, *, force: bool = False) -> None:
    """If a Slurm array still grades into ``out``, follow it to its end (its results are
    then what a rerun keeps); with ``force`` refuse instead of regrading beside it."""
    record = watch.Record.load(out)
    if record is None or record.ended:
        return
    if not _slurm_here():
        raise GraderError(
            f"Slurm array {record.array} was submitted to grade into {out} and Slurm's commands "
            "are not here to tell whether it still runs: run this where squeue works (the "
            f"login node), or remove {watch.folder(out) / 'array.json'} if it is over"
        )
    if not watch.active(record):
        _end(record, out)
        return
    if force:
        raise GraderError(
            f"Slurm array {record.array} is still grading into {out}: let it finish (rerun "
            f"without --force to follow it) or cancel it (scancel {record.array}) first"
        )
    print(f"Slurm array {record.array} is still grading into {out}: following it", file=stderr)
    _follow(record, out, stderr)


def grade_on_slurm(
    submissions: list[Submission],
    *,
    grade,
    request,
    settings: SlurmSettings,
    device: str,
    exercises: list[str],
    out: Path,
    jobs: int,
    force: bool,
    detach: bool,
    stderr,
    on_result=None,
) -> Outcome | None:
    """Grade what ``out`` does not hold as one Slurm array of ``grade(request, shard, jobs)``
    tasks, follow it and return the outcome (``None`` with ``detach``: submitted only)."""
    cluster.check_available()
    out = Path(out)
    follow_running_array(out, stderr, force=force)
    stored: dict[str, object] = {}
    if force:
        _set_aside(submissions, out, stderr)
    else:
        for submission in submissions:
            result = read_result(out / f"{submission.id}.json", exercises, request.language)
            if result is not None:
                stored[submission.id] = result
                if on_result:
                    on_result(result)
    progress = Progress(len(submissions), stderr, already=len(stored))
    progress.close()
    todo = [s for s in submissions if s.id not in stored]
    followed = watch.Followed()
    if todo:
        record = _submit(todo, grade, request, settings, device, exercises, out, jobs, stderr)
        if detach:
            print(
                f"detached: the array grades on; the same command without --detach (or any "
                f"`grader run ... --out {out}`) follows it, `scancel {record.array}` cancels it",
                file=stderr,
            )
            return None
        followed = _follow(record, out, stderr, on_result, len(submissions), len(stored))
    elif detach:
        print("nothing to submit: every submission is graded in --out", file=stderr)
        return None
    outcome = Outcome(reused=len(stored), failed=followed.failed)
    results = {**stored, **followed.results}
    outcome.results = [results[s.id] for s in submissions if s.id in results]
    progress.summary(outcome)
    return outcome


def _slurm_here() -> bool:
    try:
        cluster.check_available()
    except GraderError:
        return False
    return True


def _submit(todo, grade, request, settings, device, exercises, out, jobs, stderr):
    per_task = settings.submissions_per_task
    shards = [todo[i : i + per_task] for i in range(0, len(todo), per_task)]
    gpus = cluster.gpus_for(settings, device)
    runner = cluster.executor(settings, gpus=gpus, folder=watch.logs(out), tasks=len(shards))
    watch.reports(out).mkdir(parents=True, exist_ok=True)
    n = len(shards)
    job_ids = cluster.submit(
        runner,
        run_task,
        [grade] * n,
        [request] * n,
        shards,
        [jobs] * n,
        [str(watch.reports(out))] * n,
    )
    record = watch.Record(
        array=cluster.array_of(job_ids[0]),
        tasks=job_ids,
        shards=[[s.id for s in shard] for shard in shards],
        exercises=list(exercises),
        jobs=jobs,
    )
    record.save(out)
    where = f" on partition {settings.partition}" if settings.partition else ""
    gres = f", {gpus} GPU(s)" if gpus else ""
    print(
        f"submitted Slurm array {record.array}{where}: {len(todo)} submission(s) in {n} task(s) "
        f"of up to {per_task} ({settings.cpus_per_task} CPUs, {settings.mem_per_task_gb:g} GB"
        f"{gres}, {settings.time_per_task_min} min each; at most "
        f"{min(settings.array_parallelism, n)} at once); logs in {watch.logs(out)}",
        file=stderr,
        flush=True,
    )
    return record


def _follow(record, out, stderr, on_result=None, total=None, already=0) -> watch.Followed:
    try:
        followed = watch.follow(
            record, out, stderr, on_result=on_result, total=total, already=already
        )
    except KeyboardInterrupt:
        cluster.cancel(record.array, watch.logs(out))
        done = sum(1 for sid in _ids(record) if (Path(out) / f"{sid}.json").exists())
        print(
            f"interrupted: cancelled Slurm array {record.array} (scancel); {done} of "
            f"{len(_ids(record))} of its submissions graded, saved in {out}; rerun the same "
            "command to finish",
            file=stderr,
            flush=True,
        )
        raise
    _end(record, out)
    return followed


def _end(record: watch.Record, out: Path) -> None:
    if not record.ended:
        record.ended = True
        record.save(out)


def _ids(record: watch.Record) -> list[str]:
    return [sid for shard in record.shards for sid in shard]


def _set_aside(submissions: list[Submission], out: Path, stderr) -> None:
    """``--force``: move the batch's stored results out of the way (kept, not deleted), so
    that each task grades exactly the submissions without a result, even when requeued."""
    aside = watch.folder(out) / "replaced" / time.strftime("%Y%m%d-%H%M%S")
    moved = 0
    for submission in submissions:
        path = out / f"{submission.id}.json"
        if path.exists():
            aside.mkdir(parents=True, exist_ok=True)
            os.replace(path, aside / path.name)
            moved += 1
    if moved:
        print(f"--force: {moved} stored result(s) moved to {aside}", file=stderr)
