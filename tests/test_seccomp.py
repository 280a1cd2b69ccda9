"""The seccomp filter on student code: kernel objects and namespaces refused, torch unharmed."""

import ast
import errno

import pytest

from grader.errors import ProbeFailure, WorkerDied
from grader.sandbox import seccomp
from grader.sandbox.client import WorkerClient, WorkerSpec
from grader.sandbox.forkserver import ForkServer

# Every call a submission could leave something with for the next, or reach past its sandbox
# with, made through ctypes; the errno each one ended with (0: it worked).
TRY_EVERYTHING = """
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)

def _errno(result):
    return ctypes.get_errno() if result == -1 else 0

def predict(coeffs, x):
    tries = {
        "shmget": lambda: libc.shmget(0x5EC, 4096, 0o1600),
        "msgget": lambda: libc.msgget(0x5EC, 0o1600),
        "semget": lambda: libc.semget(0x5EC, 1, 0o1600),
        "mq_open": lambda: rt.mq_open(b"/seccomp-test", os.O_CREAT | os.O_RDWR, 0o600, None),
        "add_key": lambda: libc.syscall(248, b"user", b"seccomp-test", b"x", 1, -4),
        "keyctl": lambda: libc.syscall(250, 0, -4, 0),
        "request_key": lambda: libc.syscall(249, b"user", b"seccomp-test", None, 0),
        "unshare": lambda: libc.unshare(0x08000000),
        "setns": lambda: libc.setns(0, 0),
        "clone_newuser": lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0),
        "clone3": lambda: libc.syscall(435, None, 0),
        "ptrace": lambda: libc.ptrace(16, os.getppid(), 0, 0),
        "bpf": lambda: libc.syscall(321, 0, None, 0),
        "io_uring_setup": lambda: libc.syscall(425, 1, None),
        "userfaultfd": lambda: libc.syscall(323, 0),
        "perf_event_open": lambda: libc.syscall(298, None, 0, -1, -1, 0),
    }
    refused = {name: _errno(call()) for name, call in tries.items()}
    raise RuntimeError(repr(refused))
"""

# What the exercises need: torch's shared memory between processes, a DataLoader's worker
# processes, threads, memfd and /dev/shm files.
WHAT_TORCH_NEEDS = """
import os, threading
import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, TensorDataset

def _child(inbox, outbox):
    tensor = inbox.get()
    tensor.add_(1)
    outbox.put("done")

def predict(coeffs, x):
    seen = {}
    data = TensorDataset(torch.arange(64, dtype=torch.float32).reshape(32, 2))
    loader = DataLoader(data, batch_size=4, num_workers=2, shuffle=True)
    seen["loader"] = float(sum(batch[0].sum() for batch in loader))
    for strategy in ("file_descriptor", "file_system"):
        mp.set_sharing_strategy(strategy)
        context = mp.get_context("fork")
        inbox, outbox = context.SimpleQueue(), context.SimpleQueue()
        shared = torch.zeros(1000).share_memory_()
        process = context.Process(target=_child, args=(inbox, outbox))
        process.start()
        inbox.put(shared)
        outbox.get()
        process.join(30)
        seen[strategy] = float(shared.sum())
    with open("/dev/shm/seccomp-test", "wb") as handle:
        handle.write(b"x")
    seen["dev_shm"] = os.path.getsize("/dev/shm/seccomp-test")
    seen["memfd"] = os.memfd_create("seccomp-test") >= 0
    box = []
    thread = threading.Thread(target=lambda: box.append(1))
    thread.start()
    thread.join()
    seen["thread"] = box
    raise RuntimeError(repr(seen))
"""


def _report(submission, isolation: str, *, forked: bool) -> dict:
    spec = WorkerSpec(submission=submission.resolve(), isolation=isolation, background=True)
    with ForkServer(spec) as server:
        with WorkerClient(spec, server=server if forked else None) as worker:
            worker.call("load", timeout_s=120, module="ex1_gradients")
            with pytest.raises(ProbeFailure) as failure:
                worker.call("ex1.predict", timeout_s=120, coeffs=[0, 0, 0, 0], x=[0.0])
    return ast.literal_eval(failure.value.message.split("RuntimeError: ", 1)[1])


def test_the_filter_refuses_what_the_sandbox_must_keep():
    """Does the filter name every kernel-object and namespace call no exercise needs?"""
    must = {"add_key", "keyctl", "request_key", "shmget", "msgget", "semget", "mq_open"}
    must |= {"unshare", "setns", "ptrace", "bpf", "io_uring_setup", "userfaultfd", "mount"}
    assert must <= set(seccomp.DENIED)
    assert all(why for why in seccomp.DENIED.values())
    assert len(seccomp.program()) % 8 == 0 and seccomp.program()


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "own"])
def test_student_code_is_refused_kernel_objects_and_namespaces(make_submission, isolation, forked):
    """Does every call that would leave a kernel object (key, System V object, message queue)
    or make a namespace fail with EPERM (clone3 with ENOSYS, so the C library falls back to
    clone), in a forked worker and in one of its own?"""
    submission = make_submission("seccomp", {"ex1_gradients.py": TRY_EVERYTHING})
    refused = _report(submission, isolation, forked=forked)
    expected = {name: errno.EPERM for name in refused}
    expected["clone3"] = errno.ENOSYS
    assert refused == expected


def test_torch_shared_memory_and_loader_workers_still_work(make_submission, isolation):
    """Under the filter, do a DataLoader with worker processes, torch's shared memory in both
    sharing strategies, /dev/shm files, memfd and threads all work?"""
    submission = make_submission("torch", {"ex1_gradients.py": WHAT_TORCH_NEEDS})
    seen = _report(submission, isolation, forked=True)
    assert seen == {
        "loader": float(sum(range(64))),
        "file_descriptor": 1000.0,
        "file_system": 1000.0,
        "dev_shm": 1,
        "memfd": True,
        "thread": [1],
    }


OTHER_ABI = """
import ctypes

def predict(coeffs, x):
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(0x40000000 + 29, 0x5EC, 4096, 0o1600)  # shmget by its x32 number
    raise RuntimeError(repr((result, ctypes.get_errno())))
"""


def test_a_call_through_another_abi_ends_the_worker(make_submission, isolation):
    """Does a system call made through another ABI (x32 numbers, which the rules for this
    architecture would not match) end the worker at once, rather than run or hang it?"""
    import os

    if os.uname().machine != "x86_64":
        pytest.skip("the x32 ABI is x86_64's")
    submission = make_submission("abi", {"ex1_gradients.py": OTHER_ABI})
    spec = WorkerSpec(submission=submission.resolve(), isolation=isolation, background=True)
    with WorkerClient(spec) as worker:
        worker.call("load", timeout_s=120, module="ex1_gradients")
        with pytest.raises(WorkerDied, match="ended during"):
            worker.call("ex1.predict", timeout_s=60, coeffs=[0, 0, 0, 0], x=[0.0])
