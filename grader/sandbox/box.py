"""One sandbox and the process at its root: made, started, and ended with all it holds.

A :class:`Box` takes a uid of its own (:mod:`grader.sandbox.identity`), a private folder
with the submission (and the gate's training split) in it (:mod:`grader.sandbox.workdir`)
and a control group (:mod:`grader.sandbox.cgroups`), and starts in it, by the command
:mod:`grader.sandbox.launch` builds, either a worker or a fork server, handing it one
private descriptor. Ending it freezes and kills every process in it, whatever they did to
escape (setsid, double forks, threads), gives the uid back with everything it left removed
(:mod:`grader.sandbox.leftovers`; the sweep goes to the submission's ``ledger``), and
removes the folder and group.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess

from grader.errors import SandboxError
from grader.sandbox import cgroups, identity, launch
from grader.sandbox.launch import WorkerSpec
from grader.sandbox.leftovers import Ledger
from grader.sandbox.processes import kill_session, kill_tree
from grader.sandbox.workdir import WorkerDir


def worker_group(spec: WorkerSpec, tag: str = "worker") -> cgroups.WorkerGroup | None:
    """A control group with ``spec``'s limits (its cores' CPU time), where groups can be made."""
    support = cgroups.detect()
    if not support.version:
        return None
    limits = spec.limits
    if spec.cores:
        limits = dataclasses.replace(limits, cpus=float(len(spec.cores)))
    return cgroups.WorkerGroup(support, limits, tag)


class Box:
    """A sandbox for ``spec``: its uid, folder, group and root process (see the module)."""

    def __init__(self, spec: WorkerSpec, tag: str = "worker", ledger: Ledger | None = None):
        self.spec, self.tag, self.ledger = spec, tag, ledger
        self.identity: identity.Identity | None = None
        self.dir: WorkerDir | None = None
        self.group: cgroups.WorkerGroup | None = None
        self.process: subprocess.Popen | None = None

    def open(self, *, entry: str, fd: int, fd_env: str, stdin) -> subprocess.Popen:
        """Start ``grader.inside.<entry>`` in the sandbox with descriptor ``fd`` (named to it by the
        variable ``fd_env``) and ``stdin``; its stdout and stderr are one pipe."""
        try:
            self.identity = identity.acquire()
            self.dir = WorkerDir(self.identity.uid, self.identity.gid)
            self.dir.add_submission(self.spec.submission)
            if self.spec.train_images is not None:
                self.dir.add_train_split(self.spec.train_images, self.spec.train_labels)
            self.group = worker_group(self.spec, self.tag)
            how = launch.command(self.spec, self.identity, self.dir, self.group, entry=entry)
        except OSError as exc:
            self.close()
            raise SandboxError(f"could not prepare the {self.tag}: {exc}") from exc
        how.env[fd_env] = str(fd)
        if self.spec.isolation == "bwrap":
            at = how.cmd.index("--")
            how.cmd[at:at] = ["--setenv", fd_env, str(fd)]
        try:
            self.process = subprocess.Popen(
                how.cmd,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(fd, *how.pass_fds),
                env=how.env,
                cwd=how.cwd,
                start_new_session=True,
                preexec_fn=how.preexec,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self.close()
            raise SandboxError(f"could not start the {self.tag}: {exc}") from exc
        finally:
            for extra in how.pass_fds:
                os.close(extra)
        return self.process

    def close(self) -> None:
        """Kill everything below the root process first, so that the root (bwrap, or the
        keeper) reaps it and ends, then the root and whatever is left in the group: killed
        all at once, the processes whose parents die with them would be left unreaped."""
        if self.process is not None:
            kill_tree(self.process.pid, root_too=False)
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if self.group is not None:
            self.group.kill()
        if self.process is not None:
            kill_tree(self.process.pid)
            kill_session(self.process)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.process = None
        if self.identity is not None:
            # every process still running as the sandbox's uid dies; what it left is removed
            deep = self.spec.isolation != "bwrap"
            swept = self.identity.release(identity.shared_folders(deep))
            if self.ledger is not None:
                self.ledger.add(swept)
            self.identity = None
        if self.group is not None:
            self.group.remove()
            self.group = None
        if self.dir is not None:
            self.dir.remove()
            self.dir = None
