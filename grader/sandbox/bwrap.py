"""The bubblewrap command of a worker, every argument with the reason it is there.

Two ways to start it, both leaving the worker without capabilities and without root:

- ``host``: as root, bwrap itself is started as the worker's own uid (an unprivileged user
  namespace). Even a process that escaped the namespaces would be a user with no files.
- ``mapped``: where unprivileged user namespaces are switched off, bwrap is started as the
  grader's user and maps the worker to ``--uid``/``--gid`` with every capability dropped.

Either way the worker sees: a read-only root made of /usr, the Python environment and its
private folder (:mod:`grader.sandbox.workdir`), fresh sized tmpfs folders for /tmp, its home
and /dev/shm, its own /proc and a minimal /dev, and nothing else of the machine.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from grader.sandbox.limits import Limits

SANDBOX_SUBMISSION = "/submission"
SANDBOX_TRAIN_DATA = "/data/train"
SANDBOX_GRADER = "/opt/grader"
SANDBOX_HOME = "/home/student"


def python_roots() -> list[Path]:
    """Folders the worker's Python needs: the interpreter's prefix and the venv."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(Path(sysconfig.get_paths()[key]).resolve())
    executable = Path(sys.executable)
    roots.add(executable.parent.resolve())
    roots.add(executable.resolve().parent)
    ordered = sorted(roots, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in ordered:
        if not any(root == k or k in root.parents for k in kept):
            kept.append(root)
    return kept


def command(
    *,
    workdir,
    limits: Limits,
    device: str,
    env: dict[str, str],
    launch: str,
    uid: int,
    gid: int,
    seccomp_fd: int | None = None,
) -> list[str]:
    """The bwrap command line up to (not including) the program to run; ``seccomp_fd``
    holds the filter of :mod:`grader.sandbox.seccomp` (bwrap reads it when it starts)."""
    cmd = [shutil.which("bwrap") or "bwrap"]

    def add(*args, why: str) -> None:  # noqa: ARG001 - ``why`` documents each argument
        cmd.extend(str(a) for a in args)

    add("--unshare-all", why="no network, own PID, IPC, UTS and cgroup namespaces")
    add("--unshare-user", why="own user namespace, so that the next option can hold")
    add("--disable-userns", why="no further user namespaces: no capabilities regained inside")
    add("--cap-drop", "ALL", why="no capabilities, even where bwrap starts privileged")
    if launch == "mapped":
        add("--uid", uid, "--gid", gid, why="not root inside the sandbox")
    add("--die-with-parent", why="gone when the grader is gone")
    add("--new-session", why="no TIOCSTI into the grader's terminal")
    add("--clearenv", why="none of the grader's environment (tokens) reaches student code")
    add("--ro-bind", "/usr", "/usr", why="the system's programs and libraries, read-only")
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        host = Path("/") / name
        if host.is_symlink():
            add("--symlink", os.readlink(host), f"/{name}", why="merged-/usr layout")
        elif host.is_dir():
            add("--ro-bind", host, f"/{name}", why="split-/usr layout")
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/alternatives"):
        if os.path.exists(etc):
            add("--ro-bind", etc, etc, why="what the dynamic loader and libc read")
    add("--proc", "/proc", why="a /proc that shows the sandbox's own processes only")
    add("--dev", "/dev", why="null, zero, random and the like; no host devices")
    add("--size", limits.shm_bytes, "--tmpfs", "/dev/shm", why="loader workers' shared memory")
    add("--size", limits.tmp_bytes, "--tmpfs", "/tmp", why="a private, sized /tmp")
    add("--size", limits.home_bytes, "--tmpfs", SANDBOX_HOME, why="a private, sized home")
    # after the tmpfs mounts: bwrap mounts in order, and a later tmpfs on /tmp would hide a
    # Python environment that lives there (a checkout cloned under /tmp brings its .venv)
    for root in python_roots():
        if not Path(root).is_relative_to("/usr"):
            add("--ro-bind", root, root, why="the Python environment, read-only")
    add("--ro-bind", workdir.grader, f"{SANDBOX_GRADER}/grader", why="the worker's modules only")
    add("--ro-bind", workdir.submission, SANDBOX_SUBMISSION, why="the submission, read-only")
    if workdir.train is not None:
        # file by file: a link in the worker's folder would resolve inside the sandbox,
        # where its target's folders (under /tmp, say) do not exist
        for name in ("images.npy", "labels.npy"):
            add("--ro-bind", (workdir.train / name).resolve(), f"{SANDBOX_TRAIN_DATA}/{name}",
                why="the gate's training split")  # fmt: skip
    if device == "cuda":
        for node in sorted(Path("/dev").glob("nvidia*")):
            add("--dev-bind", node, node, why="the GPU")
        for sysdir in ("/sys/dev/char", "/sys/devices", "/sys/module/nvidia"):
            if os.path.exists(sysdir):
                add("--ro-bind", sysdir, sysdir, why="what the CUDA driver reads")
    add("--remount-ro", "/", why="the sandbox's root: only /tmp, home and /dev/shm are writable")
    add("--chdir", "/tmp", why="a writable working folder")
    if seccomp_fd is not None:
        add("--seccomp", seccomp_fd, why="no keys, System V IPC, message queues, namespaces")
    for key, value in env.items():
        add("--setenv", key, value, why="the worker's short, scrubbed environment")
    return cmd


def probe_command(launch: str, uid: int, gid: int) -> list[str]:
    cmd = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user"]
    cmd += ["--disable-userns", "--cap-drop", "ALL", "--die-with-parent"]
    if launch == "mapped":
        cmd += ["--uid", str(uid), "--gid", str(gid)]
    return [*cmd, "--ro-bind", "/", "/", "true"]


@functools.cache
def launch_mode() -> tuple[str | None, str]:
    """How bwrap can start here: ``("host" | "mapped" | None, why)``."""
    from grader.sandbox import identity
    from grader.sandbox.processes import drop_to
    from grader.sandbox.workdir import readable_by

    if shutil.which("bwrap") is None:
        return None, "bubblewrap (bwrap) is not installed"
    ident = identity.acquire()
    try:
        tries = [("host", True), ("mapped", False)] if ident.own else [("mapped", False)]
        errors = []
        for launch, switch in tries:
            preexec = (lambda: drop_to(ident.uid, ident.gid)) if switch else None
            try:
                done = subprocess.run(
                    probe_command(launch, ident.uid, ident.gid),
                    capture_output=True,
                    timeout=20,
                    preexec_fn=preexec,
                    cwd="/",
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                errors.append(f"{launch}: {exc}")
                continue
            unreadable = [
                r for r in python_roots() if switch and not readable_by(r, ident.uid, ident.gid)
            ]
            if done.returncode == 0 and not unreadable:
                return launch, ""
            if unreadable:
                errors.append(f"{launch}: the worker uid cannot read {unreadable[0]}")
                continue
            errors.append(f"{launch}: {done.stderr.decode(errors='replace').strip()[:300]}")
        return None, "bubblewrap cannot create its namespaces here (" + "; ".join(errors) + ")"
    finally:
        ident.release()
