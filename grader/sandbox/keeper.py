"""The keeper: the parent of a worker that runs without bubblewrap.

It stays root, is the worker's parent and adopts the worker's orphans; it starts the worker
(its command line is the keeper's arguments) as the uid in ``$GRADER_WORKER_UID`` when set,
with no way back to root; when the worker ends it kills whatever the worker left behind and
ends the same way (exit status or signal). It runs as its own Python
(:data:`BOOT`, from :func:`grader.sandbox.launch.command`), so it imports little: the names
both sides agree on and this folder's process helpers.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

from grader.inside.contract import (
    CONTROL_FD_ENV,
    RESPONSE_FD_ENV,
    WORKER_GID_ENV,
    WORKER_UID_ENV,
)
from grader.sandbox.processes import PR_SET_PDEATHSIG, drop_to, kill_tree

BOOT = "import sys; sys.path.insert(0, {path!r}); from grader.sandbox.keeper import main; main()"
"""The keeper's ``python -c`` program; ``path`` is the folder that holds the grader package."""
PR_SET_CHILD_SUBREAPER = 36
REAP_S = 5
"""How long the keeper reaps what it killed (left unreaped, a process outlives it)."""


def main() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of the worker come here
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the grader
    uid = int(os.environ.pop(WORKER_UID_ENV, "-1"))
    gid = int(os.environ.pop(WORKER_GID_ENV, "-1"))
    worker = subprocess.Popen(
        sys.argv[1:],
        close_fds=False,
        preexec_fn=(lambda: drop_to(uid, gid)) if uid >= 0 else None,
    ).pid
    for key in (RESPONSE_FD_ENV, CONTROL_FD_ENV):  # the worker's channel (or the zygote's)
        if key in os.environ:
            os.close(int(os.environ[key]))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    while True:
        pid, status = os.wait()
        if pid == worker:
            break
    kill_tree(os.getpid(), root_too=False)
    deadline = time.monotonic() + REAP_S
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.01)
        except ChildProcessError:
            break
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)
