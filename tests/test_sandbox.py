"""The worker's sandbox: what student code can see and reach, and the fallback without it."""

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, fixture_submission, grader, index_tests, json_results

from grader.inside.contract import DEVICE_ENV, SUBMISSION_ENV
from grader.sandbox.limits import Limits
from grader.sandbox.policy import bwrap_works
from grader.sandbox.processes import descendants, kill_tree, rlimits

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not usable here")

SNOOP = """
import os, socket, sys

def _readable(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        return True
    except OSError:
        return False

def _look(port):
    found = [path for path in {paths!r} if _readable(path)]
    for root, dirs, files in os.walk("/") if {walk!r} else ():
        if root.startswith(("/proc", "/sys", "/dev", "/usr", sys.prefix, sys.base_prefix)):
            dirs[:] = []
            continue
        for name in dirs + files:
            if name in ("suites", "solutions", "datasets", "neighbour", "cifar10"):
                found.append(os.path.join(root, name))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        found.append("connected")
    except OSError:
        pass
    return found


def predict(coeffs, x):
    raise RuntimeError("found: " + repr(_look({port})))
"""


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_student_code_sees_no_secrets_and_no_network(tmp_path, isolation):
    """Can a snooping submission read no suites, solutions, data, neighbour or output, nor
    reach the network (without bubblewrap too, as a uid of its own)?"""
    import os

    from grader.sandbox.policy import unreadable_python

    if isolation == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not usable here")
    if isolation == "process" and (os.geteuid() != 0 or unreadable_python() is not None):
        pytest.skip("reduced isolation needs root and a Python other users can read")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    batch, out = tmp_path / "class", tmp_path / "out"
    fixture_submission("correct_alt_loops", batch / "neighbour")
    (out / "earlier").mkdir(parents=True)
    paths = [
        str(REPO / "solutions"),
        str(REPO / "solutions" / "ex1_gradients.py"),
        str(REPO / "grader" / "suites" / "test_ex1.py"),
        str(REPO / "datasets" / "cifar10" / "test"),
        str(REPO / "examples" / "submissions"),
        str(REPO / ".git"),
        str(batch / "neighbour" / "ex1_gradients.py"),
        str(out),
        "/opt/grader/grader/suites",
    ]
    source = SNOOP.format(paths=paths, port=port, walk=isolation == "bwrap")
    fixture_submission("correct_alt_loops", batch / "snoop")
    (batch / "snoop" / "ex1_gradients.py").write_text(source)
    completed = grader(
        "run", batch, "--exercises", "ex1", "--format", "json", "--out", out,
        "--isolation", isolation,
    )  # fmt: skip
    results = {r["submission"]: r for r in json_results(completed)}
    feedback = index_tests(results["snoop"])["test_predict_is_the_cubic"]["feedback"]
    assert "found: []" in feedback, feedback
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_process_fallback_says_isolation_was_reduced(make_submission, tmp_path):
    """Without bubblewrap, is the result marked `process` with a warning, and still graded,
    and is the test split (the gate's answers) made owner-only though this run has no gate?"""
    test_split = tmp_path / "data" / "test"
    test_split.mkdir(parents=True)
    test_split.chmod(0o755)
    completed = grader(
        "run",
        make_submission("ivy"),
        "--exercises",
        "ex1",
        "--format",
        "json",
        "--isolation",
        "process",
        "--data-root",
        tmp_path / "data",
    )
    (result,) = json_results(completed)
    assert result["isolation"] == "process" and result["score"] == 20
    assert result["warnings"] and "reduced isolation" in completed.stderr
    assert test_split.stat().st_mode & 0o077 == 0


def test_require_isolation_refuses_without_bubblewrap(make_submission):
    """With no bwrap on PATH, does --require-isolation refuse to grade (exit 2)?"""
    completed = grader(
        "run",
        make_submission("jay"),
        "--exercises",
        "ex1",
        "--require-isolation",
        env={"PATH": str(Path(sys.executable).parent)},
    )
    assert completed.returncode == 2
    assert "bubblewrap" in completed.stderr and completed.stdout == ""


REPORT = """
import json, os, resource

def _report():
    names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")
    limits = {name: resource.getrlimit(getattr(resource, name))[0] for name in names}
    tmp = sorted(os.listdir("/tmp"))
    writable = {}
    for folder in ("/submission", "/tmp", os.path.expanduser("~"), "/usr", "/opt/grader"):
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as handle:
                handle.write("x")
            writable[folder] = True
        except OSError:
            writable[folder] = False
    return {"env": sorted(os.environ), "limits": limits, "writable": writable,
            "tmp": tmp}

def predict(coeffs, x):
    raise RuntimeError("REPORT" + json.dumps(_report()))
"""


@needs_bwrap
def test_worker_environment_limits_and_mounts(make_submission):
    """In the sandbox, is the environment scrubbed, are the limits set, the submission
    read-only and /tmp and home private and writable?"""
    import json

    sub = make_submission("reporter", {"ex1_gradients.py": REPORT})
    completed = grader(
        "run", sub, "--exercises", "ex1", "--format", "json", "--device", "cpu",
        env={"SECRET_TOKEN": "do-not-leak"},
    )  # fmt: skip
    feedback = index_tests(json_results(completed)[0])["test_predict_is_the_cubic"]["feedback"]
    report = json.loads(feedback.split("REPORT", 1)[1].rsplit(" (at ", 1)[0])
    assert "SECRET_TOKEN" not in report["env"]
    assert {"PATH", "HOME", SUBMISSION_ENV, DEVICE_ENV} <= set(report["env"])
    assert set(report["env"]) <= {
        "PATH",
        "HOME",
        "LANG",
        "USER",
        "LOGNAME",
        "MPLBACKEND",
        SUBMISSION_ENV,
        DEVICE_ENV,
        "OMP_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LC_CTYPE",
        "PWD",
    }
    assert report["limits"]["RLIMIT_AS"] == Limits().address_space_bytes
    assert report["limits"]["RLIMIT_CORE"] == 0 and report["limits"]["RLIMIT_CPU"] > 0
    assert report["writable"] == {
        "/submission": False,
        "/tmp": True,
        "/home/student": True,
        "/usr": False,
        "/opt/grader": False,
    }
    # /tmp is a fresh tmpfs: it holds nothing but the mount points of the read-only Python
    # roots where those live under /tmp (a checkout cloned there brings its .venv)
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    mount_points = {r.relative_to("/tmp").parts[0] for r in roots if r.is_relative_to("/tmp")}
    assert set(report["tmp"]) == mount_points


@needs_bwrap
def test_a_python_environment_under_tmp_is_not_hidden_by_the_sandboxs_tmp(monkeypatch):
    """A checkout cloned under /tmp brings its .venv there: is it still reachable inside the
    sandbox, whose own /tmp is a fresh tmpfs (bwrap mounts in the order it is given)?"""
    import subprocess

    from grader.sandbox import bwrap, identity
    from grader.sandbox.workdir import WorkerDir

    root = Path(tempfile.mkdtemp(prefix="grader-venv-", dir="/tmp"))
    ident = identity.acquire()
    workdir = WorkerDir(ident.uid, ident.gid)
    try:
        workdir.add_submission(fixture_submission("correct_tutorial_style", root / "sub"))
        root.chmod(0o755)
        (root / "marker").write_text("reachable")
        (root / "marker").chmod(0o644)
        monkeypatch.setattr(bwrap, "python_roots", lambda: [root])
        launch = bwrap.launch_mode()[0]
        cmd = bwrap.command(
            workdir=workdir, limits=Limits(), device="cpu", env={}, launch=launch,
            uid=ident.uid, gid=ident.gid,
        )  # fmt: skip
        seen = subprocess.run(
            [*cmd, "--", "/bin/cat", str(root / "marker")], capture_output=True, text=True
        )
        assert seen.stdout == "reachable", seen.stderr
    finally:
        workdir.remove()
        ident.release()
        shutil.rmtree(root, ignore_errors=True)


def test_a_worker_that_dies_before_it_is_ready_is_the_graders_fault(make_submission):
    """No code of the submission runs before the worker's ready message: where the worker
    dies before it (here: an address space too small for Python and numpy), is that the
    grader's error, with what the worker wrote, and not a test the student fails?"""
    from grader.errors import SandboxError
    from grader.sandbox.client import WorkerClient, WorkerSpec

    sub = make_submission("starved", keep={"ex1_gradients"})
    limits = Limits(address_space_bytes=48 * 2**20)
    isolation = "bwrap" if bwrap_works() else "process"
    if isolation == "process" and os.geteuid() != 0:
        pytest.skip("neither bubblewrap nor root here")
    with WorkerClient(WorkerSpec(submission=sub, limits=limits, isolation=isolation)) as worker:
        with pytest.raises(SandboxError, match="the worker did not start: .*during start"):
            worker.call("load", timeout_s=60, module="ex1_gradients")


def test_no_address_space_limit_on_cuda():
    """Is RLIMIT_AS left out for cuda (the driver reserves far more than it uses), set on cpu?"""
    import resource

    assert resource.RLIMIT_AS in rlimits(Limits(), "cpu", own_uid=True)
    assert resource.RLIMIT_AS not in rlimits(Limits(), "cuda", own_uid=True)


def test_kill_tree_catches_setsid_and_double_forked_processes(tmp_path):
    """Does kill_tree end a daemon that called setsid and double-forked under a subreaper?"""
    import subprocess
    import time

    script = tmp_path / "daemon.py"
    script.write_text(
        "import ctypes, os, time\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "time.sleep(120)\n"
    )
    root = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 10
    while len(descendants(root.pid)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    daemons = descendants(root.pid)
    assert daemons, "the daemon was not adopted by its subreaper"
    kill_tree(root.pid)
    root.wait(timeout=10)
    time.sleep(0.2)
    assert not [
        pid
        for pid in daemons
        if Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2][:3]
    ]


def test_forged_array_headers_are_refused_without_allocating():
    """Does the trusted side refuse an .npy whose header claims a huge shape, or a pickle?"""
    import base64
    import io

    import numpy as np

    from grader.inside import channel

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    pickled = io.BytesIO()
    np.save(pickled, np.array([{}], dtype=object), allow_pickle=True)
    for raw in (header.getvalue() + bytes(8), pickled.getvalue()):
        with pytest.raises(channel.ChannelError):
            channel.decode({channel.ARRAY_TAG: base64.b64encode(raw).decode()})
    with pytest.raises(channel.ChannelError):
        channel.loads(b"[" * 100_000 + b"]" * 100_000)


needs_root = pytest.mark.skipif(
    __import__("os").geteuid() != 0, reason="workers get users of their own only when run as root"
)
IDENTITY = """
import ctypes, os

def predict(coeffs, x):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    remount = ctypes.CDLL(None, use_errno=True).mount(b"none", b"/usr", None, 32 | 4096, None)
    raise RuntimeError("ID " + repr([os.getuid(), os.getgid(), status["CapEff"].strip(), remount]))
"""


@needs_root
@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_worker_is_an_unprivileged_user_of_its_own(make_submission, isolation):
    """As root, does student code run as a uid of its own, with no capabilities, unable to
    remount anything?"""
    import ast

    from grader.sandbox.identity import UID_BASE
    from grader.sandbox.policy import unreadable_python

    if isolation == "process" and unreadable_python() is not None:
        pytest.skip("the worker's uid cannot read this Python")
    if isolation == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not usable here")
    sub = make_submission("who", {"ex1_gradients.py": IDENTITY})
    completed = grader(
        "run", sub, "--exercises", "ex1", "--format", "json", "--isolation", isolation
    )
    feedback = index_tests(json_results(completed)[0])["test_predict_is_the_cubic"]["feedback"]
    uid, gid, caps, remount = ast.literal_eval(feedback.split("ID ", 1)[1].rsplit(" (at", 1)[0])
    assert uid >= UID_BASE and gid >= UID_BASE
    assert caps == "0000000000000000" and remount == -1


@needs_root
def test_worker_uids_are_exclusive_and_leave_nothing_behind(tmp_path):
    """Does each live worker get a uid no other holds, and does giving it back kill its
    processes and remove what it left in the shared folders?"""
    import subprocess
    import time

    from grader.sandbox import identity
    from grader.sandbox.processes import drop_to

    first, second = identity.acquire(), identity.acquire()
    try:
        assert first.own and second.own and first.uid != second.uid
        daemon = subprocess.Popen(
            ["sleep", "120"],
            preexec_fn=lambda: drop_to(first.uid, first.gid),
            start_new_session=True,
        )
        leftover = Path("/dev/shm") / f"left-by-{first.uid}"
        leftover.write_text("x")
        __import__("os").chown(leftover, first.uid, first.gid)
        time.sleep(0.1)
        first.release()
        assert daemon.wait(timeout=10) != 0 and not leftover.exists()
    finally:
        first.release()
        second.release()


# Run as the uid given, without the seccomp filter (so that every kernel object can be made):
# what a sandbox of that uid could have left if a way past the filter existed.
LEAVE_KERNEL_OBJECTS = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
shared, keys = sys.argv[1], sys.argv[2] == "keys"
assert libc.shmget(0, 1 << 20, 0o1600) >= 0
assert libc.msgget(0, 0o1600) >= 0
assert libc.semget(0, 1, 0o1600) >= 0
os.makedirs(os.path.join(shared, "mine", "read-only"))
open(os.path.join(shared, "mine", "read-only", "data"), "w").close()
os.chmod(os.path.join(shared, "mine", "read-only"), 0o500)
open(os.path.join(shared, "left.py"), "w").close()
os.symlink("/etc", os.path.join(shared, "link-to-etc"))
if keys:
    assert libc.syscall(248, b"user", b"grader-test", b"x", 1, -4) > 0  # add_key, @u
"""


def _leave_kernel_objects(ident, shared: Path, keys: bool) -> None:
    import subprocess

    from grader.sandbox.processes import drop_to

    subprocess.run(
        [sys.executable, "-I", "-c", LEAVE_KERNEL_OBJECTS, str(shared), "keys" if keys else ""],
        preexec_fn=lambda: drop_to(ident.uid, ident.gid),
        check=True,
        cwd="/",
    )


@needs_root
def test_the_sweep_removes_what_a_uid_left_in_the_kernel_and_every_shared_folder():
    """When a uid is given back, are its System V segment, queue and semaphores removed, and
    its files in a world-writable folder deep below /tmp (read-only folders among them, a
    link never followed), the sweep saying what it found?"""
    from grader.sandbox import identity, leftovers

    shared = Path(tempfile.mkdtemp(prefix="grader-test-shared-"))
    os.chmod(shared, 0o1777)
    ident = identity.acquire()
    try:
        _leave_kernel_objects(ident, shared, keys=False)
        assert str(shared) in leftovers.world_writable_folders.__wrapped__()  # found, uncached
        assert len(leftovers.ipc_objects(ident.uid)) == 3
        swept = ident.release((*identity.shared_folders(deep=False), str(shared)))
        assert sorted(f for f in swept.found if f.startswith(str(shared))) == [
            f"{shared}/left.py", f"{shared}/link-to-etc", f"{shared}/mine"
        ]  # fmt: skip
        assert sum(f.split()[0] in ("shm", "msg", "sem") for f in swept.found) == 3
        assert swept.kept == [] and leftovers.ipc_objects(ident.uid) == []
        assert os.listdir(shared) == [] and Path("/etc/passwd").exists()
    finally:
        ident.release()
        shutil.rmtree(shared)


@needs_root
def test_a_uid_that_keeps_keys_is_never_handed_out_again(monkeypatch):
    """Keys cannot be removed for another user: does a uid that still holds one when it is
    given back get retired (its slot skipped from then on), the sweep saying it kept them?"""
    from grader.sandbox import identity, leftovers

    shared = Path(tempfile.mkdtemp(prefix="grader-test-shared-"))
    os.chmod(shared, 0o1777)
    ident = identity.acquire()
    try:
        _leave_kernel_objects(ident, shared, keys=True)
        swept = ident.release(identity.shared_folders(deep=False))
        assert any("key" in item for item in swept.kept), swept
        assert leftovers.key_count(ident.uid) > 0
        slot = ident.uid - identity.UID_BASE
        assert (identity._lock_dir() / f"{slot}.retired").exists()
        monkeypatch.setattr(identity.random, "randrange", lambda _: slot)  # its turn first
        other = identity.acquire()
        assert other.uid != ident.uid
        other.release()
    finally:
        ident.release()
        shutil.rmtree(shared)


@needs_root
def test_control_group_counts_a_workers_memory_and_files_in_its_tmpfs(make_submission):
    """With a 256 MiB memory limit, is a worker that fills its /tmp with 512 MiB stopped,
    the feedback saying memory was the reason?"""
    from grader.errors import WorkerDied
    from grader.sandbox import cgroups
    from grader.sandbox.client import WorkerClient, WorkerSpec

    if cgroups.detect().version is None or not bwrap_works():
        pytest.skip("no control groups or no bubblewrap here")
    fill = (
        "import os\n"
        "def predict(coeffs, x):\n"
        "    with open('/tmp/big', 'wb') as handle:\n"
        "        for _ in range(64):\n"
        "            handle.write(b'x' * 8 * 2**20)\n"
    )
    sub = make_submission("filler", {"ex1_gradients.py": fill}, keep={"ex1_gradients"})
    limits = Limits(memory_bytes=256 * 2**20, address_space_bytes=None)
    with WorkerClient(WorkerSpec(submission=sub, limits=limits)) as worker:
        worker.call("load", timeout_s=60, module="ex1_gradients")
        with pytest.raises(WorkerDied, match="memory"):
            worker.call("ex1.predict", timeout_s=60, coeffs=[0, 0, 0, 0], x=[0.0])


@pytest.fixture
def unified_hierarchy(tmp_path):
    """The cgroup v2 hierarchy, mounted afresh in ``tmp_path`` (as root; on a v1 machine it
    is there all the same, holding the controllers v1 does not), and a group of the test's
    own in it; both gone afterwards."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root")
    mount = tmp_path / "unified"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "cgroup2", "none", mount], capture_output=True).returncode:
        pytest.skip("cgroup2 cannot be mounted here")
    own = mount / f"grader-test-{os.getpid()}"
    own.mkdir()
    try:
        yield mount, own
    finally:
        for folder in sorted(own.rglob("*"), key=lambda p: -len(p.parts)) + [own]:
            if folder.is_dir():
                for pid in (folder / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
        for folder in sorted(own.rglob("*"), key=lambda p: -len(p.parts)) + [own]:
            if folder.is_dir():
                for _ in range(100):
                    try:
                        folder.rmdir()
                        break
                    except OSError:
                        import time

                        time.sleep(0.02)
        subprocess.run(["umount", mount], check=True)


def test_v2_group_kills_every_process_in_it(unified_hierarchy):
    """On the unified (v2) hierarchy, with none of the controllers the grader wants handed to
    its group, are worker groups still made, their limits falling back to rlimits (the reason
    recorded), and does a group's kill end a process and its double-forked child, and count
    their threads and CPU time?"""
    import subprocess
    import time

    from grader.sandbox import cgroups

    mount, own = unified_hierarchy
    (own / "grader").mkdir()  # a fresh group hands no controller down: its child gets none
    support = cgroups._v2(str(mount), f"/{own.name}/grader")
    assert support.version == "v2" and support.controllers == frozenset()
    assert "not given the memory, pids, cpu controller" in support.reason
    group = cgroups.WorkerGroup(support, Limits(memory_bytes=2**30, tasks=64, cpus=1.0))
    files = group.procs_files()
    process = subprocess.Popen(
        ["sh", "-c", "(setsid sleep 120 &) ; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done;"
         " sleep 120"],
        preexec_fn=lambda: cgroups.join(files),
    )  # fmt: skip
    time.sleep(1.0)
    assert len(group.pids()) >= 2 and group.tasks() >= 2
    assert group.cpu_seconds() > 0
    group.kill()
    assert process.wait(timeout=10) != 0 and group.pids() == []
    group.remove()
    assert not group.dirs["unified"].exists()


def test_v2_controllers_are_enabled_below_a_group_that_holds_other_processes(
    unified_hierarchy,
):
    """Where the grader shares its group with another process (a container's shell), are
    they all moved into the group's leaf so that the controllers can be handed down, do
    worker groups get them, and does a later grader started in the leaf use the same group?"""
    import subprocess

    from grader.sandbox import cgroups

    mount, own = unified_hierarchy
    available = (mount / "cgroup.controllers").read_text().split()
    controller = next((c for c in ("hugetlb", "pids", "memory") if c in available), None)
    if controller is None:
        pytest.skip("no controller to hand down in this hierarchy")
    if controller not in (own / "cgroup.controllers").read_text().split():
        (mount / "cgroup.subtree_control").write_text(f"+{controller}")
    neighbour = subprocess.Popen(
        ["sleep", "120"], preexec_fn=lambda: cgroups.join([str(own / "cgroup.procs")])
    )
    try:
        support = cgroups._v2(str(mount), "/" + own.name, wanted=(controller,))
        assert support.controllers == {controller} and support.reason == ""
        assert (own / "cgroup.procs").read_text() == ""
        leaf = (own / "grader-trusted" / "cgroup.procs").read_text().split()
        assert str(neighbour.pid) in leaf
        assert controller in (own / "cgroup.subtree_control").read_text().split()
        group = cgroups.WorkerGroup(support, Limits())
        assert controller in (group.dirs["unified"] / "cgroup.controllers").read_text().split()
        group.remove()
        # the next grader, started from a shell now in the leaf, makes its groups beside it
        again = cgroups._v2(str(mount), f"/{own.name}/grader-trusted", wanted=(controller,))
        assert again == support
    finally:
        neighbour.kill()
        neighbour.wait()


def test_v2_root_group_hands_controllers_down_without_moving_anything(unified_hierarchy):
    """A grader in the hierarchy's root group (a machine without systemd): are controllers
    enabled there directly, every process of the machine left where it is?"""
    from grader.sandbox import cgroups

    mount, _ = unified_hierarchy
    available = (mount / "cgroup.controllers").read_text().split()
    controller = next((c for c in ("hugetlb", "pids", "memory") if c in available), None)
    if controller is None:
        pytest.skip("no controller in this hierarchy")
    try:
        (mount / "cgroup.subtree_control").write_text(f"-{controller}")
    except OSError:
        pytest.skip(f"{controller} is in use below the root here")
    before = set((mount / "cgroup.procs").read_text().split())
    support = cgroups._v2(str(mount), "/", wanted=(controller,))
    assert support.controllers == {controller}
    assert not (mount / "grader-trusted").exists()
    assert before <= set((mount / "cgroup.procs").read_text().split()) | _gone(before)


def _gone(pids: set[str]) -> set[str]:
    return {pid for pid in pids if not Path(f"/proc/{pid}").exists()}


def test_cpu_slots_never_share_a_core_and_a_waiting_gate_goes_first(tmp_path):
    """With two cores, does a two-core holder wait for a one-core holder, keep later one-core
    holders from going first, and get both cores?"""
    import threading
    import time

    from grader.sandbox.cpus import Slots

    slots = Slots(tmp_path, cores=[0, 1])
    events = []
    with slots.hold(1) as first:
        assert len(first) == 1

        def gate():
            with slots.hold(2) as cores:
                events.append(("gate", cores))
                time.sleep(0.3)

        def later():
            time.sleep(0.2)
            with slots.hold(1) as cores:
                events.append(("later", cores))

        threads = [threading.Thread(target=gate), threading.Thread(target=later)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert events == []  # the gate waits for the core held here; the later one waits too
    for thread in threads:
        thread.join(timeout=10)
    assert events[0] == ("gate", [0, 1]) and events[1][0] == "later"


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
@pytest.mark.parametrize("mode", [0o755, 0o700])
def test_gate_training_split_reaches_the_worker_wherever_the_data_lies(
    make_submission, tmp_path, isolation, mode
):
    """Are the training images and the trusted labels readable in the worker, whether the data
    folder lies under /tmp and is readable by all (linked in) or private to root (copied)?"""
    import numpy as np

    from grader.sandbox.client import WorkerClient, WorkerSpec

    if isolation == "bwrap" and not bwrap_works():
        pytest.skip("no bubblewrap here")
    if isolation == "process" and os.geteuid() != 0:
        pytest.skip("process isolation needs root")
    data = Path(tempfile.mkdtemp(prefix="grader-split-", dir="/tmp"))
    try:
        data.chmod(mode)
        np.save(data / "images.npy", np.full((3, 2), 7, dtype=np.uint8))
        (data / "images.npy").chmod(0o644)
        reader = (
            "import os\nimport numpy as np\n"
            "def predict(coeffs, x):\n"
            "    root = os.environ['GRADER_TRAIN_DATA']\n"
            "    images = np.load(root + '/images.npy')\n"
            "    labels = np.load(root + '/labels.npy')\n"
            "    return np.array([float(images.sum()), float(labels.sum())])\n"
        )
        sub = make_submission("reader", {"ex1_gradients.py": reader}, keep={"ex1_gradients"})
        spec = WorkerSpec(
            submission=sub,
            train_images=data / "images.npy",
            train_labels=np.array([1, 2, 3]),
            isolation=isolation,
        )
        with WorkerClient(spec) as worker:
            worker.call("load", timeout_s=60, module="ex1_gradients")
            got = worker.call("ex1.predict", timeout_s=60, coeffs=[0, 0, 0, 0], x=[0.0])
        assert list(np.asarray(got, dtype=float).ravel()) == [42.0, 6.0]
    finally:
        shutil.rmtree(data, ignore_errors=True)
