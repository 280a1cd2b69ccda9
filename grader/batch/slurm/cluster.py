"""Slurm through submitit: an array's sbatch parameters, submitting it, its tasks' states, scancel.

Each task runs the grader's own Python (``sys.executable -P``: nothing is imported from the
current folder) with this kit's folder first on ``PYTHONPATH``, so a node imports exactly the
``grader`` that submitted it, from the shared file system. ``sacct`` needs Slurm's accounting
database, which many clusters (and the tests' one-node cluster) do not run: task states come
from ``squeue -t all`` instead, and a task no longer listed there has ended.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from grader.course.config import SlurmSettings
from grader.errors import GraderError
from grader.kit import REPO_ROOT

COMMANDS = ("sbatch", "squeue", "scancel", "srun")
ACTIVE = {
    "PENDING",
    "PREEMPTED",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "RESIZING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESV_DEL_HOLD",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "SUSPENDED",
}
"""Task states that may still write results (anything else has ended: COMPLETED, FAILED,
CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ...). A preempted task may be requeued: it
counts as ended only once Slurm no longer lists it."""
RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"}
SIGNAL_DELAY_S = 90
"""Slurm warns a task (SIGUSR2) this long before its time limit; it then stops cleanly."""


def check_available() -> None:
    """Raise a plain :class:`GraderError` where Slurm's commands are not on PATH."""
    missing = [name for name in COMMANDS if shutil.which(name) is None]
    if missing:
        raise GraderError(
            f"--executor slurm needs Slurm's commands on PATH, and {', '.join(missing)} "
            "cannot be found: run on the cluster's login node (or `module load slurm` there), "
            "or grade here with --executor local"
        )


def gpus_for(settings: SlurmSettings, device: str) -> int:
    """GPUs each task asks for: the setting, else one for ``--device cuda``."""
    if settings.gpus_per_task is not None:
        return settings.gpus_per_task
    return 1 if device == "cuda" else 0


def parameters(settings: SlurmSettings, *, gpus: int, folder: Path, tasks: int) -> dict:
    """submitit's SlurmExecutor parameters for an array of ``tasks`` tasks."""
    kit = shlex.quote(str(REPO_ROOT))
    params = {
        "job_name": "grader",
        "time": settings.time_per_task_min,
        "cpus_per_task": settings.cpus_per_task,
        "array_parallelism": max(1, min(settings.array_parallelism, tasks)),
        "signal_delay_s": SIGNAL_DELAY_S,
        "setup": [
            *settings.setup,
            f"export PYTHONPATH={kit}${{PYTHONPATH:+:$PYTHONPATH}}",
        ],
        # a folder of the grader's own: a task never runs where a submission could lie
        # in MB: submitit writes "8GB", which Slurm before 23 refuses
        "additional_parameters": {
            "chdir": str(folder),
            "mem": f"{round(settings.mem_per_task_gb * 1024)}M",
        },
    }
    if settings.partition:
        params["partition"] = settings.partition
    if settings.account:
        params["account"] = settings.account
    if gpus:
        params["gres"] = f"gpu:{gpus}"
    return params


def executor(settings: SlurmSettings, *, gpus: int, folder: Path, tasks: int):
    """A submitit ``SlurmExecutor`` writing its pickles and logs to ``folder``."""
    import submitit

    folder.mkdir(parents=True, exist_ok=True)
    runner = submitit.SlurmExecutor(folder=folder, python=_python(), max_num_timeout=0)
    runner.update_parameters(**parameters(settings, gpus=gpus, folder=folder, tasks=tasks))
    return runner


def sbatch_script(settings: SlurmSettings, *, gpus: int, folder: Path, tasks: int) -> str:
    """The batch script an array of ``tasks`` tasks is submitted with (what ``sbatch`` reads);
    written without Slurm at hand (submitit's executor itself wants ``srun`` on PATH)."""
    from submitit.slurm.slurm import _make_sbatch_string

    return _make_sbatch_string(
        command=f"{_python()} -u -m submitit.core._submit {shlex.quote(str(folder))}",
        folder=folder,
        map_count=tasks,
        **parameters(settings, gpus=gpus, folder=folder, tasks=tasks),
    )


def _python() -> str:
    """The grader's own interpreter, in isolated-path mode (``-P``): never the current folder."""
    return f"{shlex.quote(sys.executable)} -P"


def submit(runner, task, *arguments: list) -> list[str]:
    """``task(*args)`` for each row of ``arguments`` as one Slurm array; the tasks' job ids
    (``123_0``, ``123_1``, ...; a lone task is ``123``)."""
    import submitit

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jobs = runner.map_array(task, *arguments)
    except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError, OSError) as exc:
        raise GraderError(f"sbatch did not take the array: {exc}") from None
    return [job.job_id for job in jobs]


def array_of(job_id: str) -> str:
    return job_id.split("_", 1)[0]


def states(array: str) -> dict[str, str] | None:
    """Job id -> state of each task of ``array`` that Slurm still lists (``{}``: none, the
    array is over and forgotten); ``None`` where squeue could not be asked this time."""
    try:
        done = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-j", array, "-o", "%i|%T"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return {} if "Invalid job id" in done.stderr else None
    found = {}
    for line in done.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            found[job] = state.split()[0] if state else "UNKNOWN"
    return found


def cancel(array: str, folder: Path) -> None:
    """scancel the whole array (through submitit's job object)."""
    import submitit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        submitit.SlurmJob(folder=folder, job_id=array).cancel(check=False)
