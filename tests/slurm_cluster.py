"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd on localhost.

Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them). Everything lives in one
temporary folder: a munge key and socket of its own (the machine's munged, if any, is left
alone), ``slurm.conf`` with the simplest plugins that run in a container (no cgroups, no
accounting database), state, spool and logs. :func:`start` returns a :class:`Cluster` whose
``env`` points the Slurm commands at that configuration (``SLURM_CONF``); :meth:`Cluster.stop`
ends the three daemons it started and nothing else. ``python tests/slurm_cluster.py`` starts
one, prints how to use it and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
START_TIMEOUT_S = 30.0


class ClusterError(RuntimeError):
    """The cluster could not be started here (the message holds the daemons' own words)."""


@dataclass
class Cluster:
    root: Path
    conf: Path
    cpus: int
    memory_mb: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The environment a Slurm client needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *command: str, check: bool = True) -> str:
        done = subprocess.run(
            command, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=30
        )
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def queue(self) -> list[str]:
        """Job ids (``123_4`` for an array task) still pending or running."""
        return self.run("squeue", "-h", "-o", "%i").split()

    def wait_empty(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.queue():
            if time.monotonic() > deadline:
                raise ClusterError(f"jobs still queued after {timeout_s:g} s: {self.queue()}")
            time.sleep(0.5)

    def logs(self) -> str:
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            path = self.root / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name}.log\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """End the jobs left, then slurmd, slurmctld and munged (ours only, by pid)."""
        if "slurmctld" in self.processes:
            self.run("scancel", "--full", "-u", str(os.getuid()), check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def command(name: str) -> str | None:
    """Where ``name`` is: on PATH, else where Debian puts daemons (a user's PATH may lack it)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def missing_commands() -> list[str]:
    return [name for name in COMMANDS if command(name) is None]


def start(root: Path | None = None) -> Cluster:
    """Start munged, slurmctld and slurmd in ``root`` (a new temporary folder by default)."""
    missing = missing_commands()
    if missing:
        raise ClusterError(f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        raise ClusterError("the test cluster runs its daemons as root (SlurmUser=root)")
    root = Path(root or tempfile.mkdtemp(prefix="grader-slurm-"))
    root.chmod(0o755)  # jobs write their logs from the daemons' and the user's side
    cpus, memory_mb = _node_size()
    cluster = Cluster(root, root / "slurm.conf", cpus, memory_mb)
    try:
        _start_munge(cluster)
        ctld_port, slurmd_port = _free_port(), _free_port()
        cluster.conf.write_text(_slurm_conf(root, cpus, memory_mb, ctld_port, slurmd_port))
        env = {**os.environ, **cluster.env}
        for name, args in (
            ("slurmctld", ["-D", "-i", "-f", str(cluster.conf)]),
            ("slurmd", ["-D", "-N", "localhost", "-f", str(cluster.conf)]),
        ):
            cluster.processes[name] = subprocess.Popen(
                [command(name), *args],
                env=env,
                stdout=(root / f"{name}.out").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_idle(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _node_size() -> tuple[int, int]:
    """CPUs and memory (MB) as slurmd itself sees them (``slurmd -C``)."""
    text = subprocess.run([command("slurmd"), "-C"], capture_output=True, text=True).stdout
    values = dict(item.split("=", 1) for item in text.split() if "=" in item)
    cpus = int(values.get("CPUs", os.cpu_count() or 1))
    memory = int(values.get("RealMemory", 1024))
    return cpus, max(256, memory - 512)  # a little below what the node has, never above


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_munge(cluster: Cluster) -> None:
    folder = cluster.root / "munge"
    folder.mkdir(mode=0o700)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    cluster.processes["munged"] = subprocess.Popen(
        [
            command("munged"),
            "--foreground",
            "--force",
            f"--socket={folder / 'munge.socket'}",
            f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={cluster.root / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ],
        stdout=(cluster.root / "munged.out").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (folder / "munge.socket").exists():
        if cluster.processes["munged"].poll() is not None or time.monotonic() > deadline:
            raise ClusterError("munged did not start:\n" + _tail(cluster.root / "munged.out"))
        time.sleep(0.1)


def _slurm_conf(root: Path, cpus: int, memory_mb: int, ctld_port: int, slurmd_port: int) -> str:
    socket_path = root / "munge" / "munge.socket"
    return f"""\
# a one-node test cluster: no cgroups, no accounting database, daemons as root
ClusterName=grader-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
ReturnToService=2
MinJobAge=600
KillWait=5
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _wait_idle(cluster: Cluster) -> None:
    """Until ``sinfo`` shows the node idle; else the daemons' own words."""
    deadline = time.monotonic() + START_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        for name, process in cluster.processes.items():
            if process.poll() is not None:
                raise ClusterError(
                    f"{name} exited ({process.returncode}):\n"
                    + _tail(cluster.root / f"{name}.out")
                    + "\n"
                    + cluster.logs()
                )
        done = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"],
            env={**os.environ, **cluster.env},
            capture_output=True,
            text=True,
        )
        state = (done.stdout or done.stderr).strip()
        if state == "idle":
            return
        time.sleep(0.3)
    raise ClusterError(
        f"the node is not idle after {START_TIMEOUT_S:g} s ({state}):\n" + cluster.logs()
    )


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


if __name__ == "__main__":
    # SIGTERM (and SIGINT, which a shell's background job ignores) end it cleanly
    for how in (signal.SIGTERM, signal.SIGINT):
        signal.signal(how, signal.default_int_handler)
    with start() as up:
        print(f"export SLURM_CONF={up.conf}   # {up.cpus} CPUs, {up.memory_mb} MB; Ctrl-C ends it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sys.exit(0)
