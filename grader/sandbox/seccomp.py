"""The system calls student code is refused, as a seccomp filter built with libseccomp.

No exercise needs to make kernel objects that outlive a process or reach past it: keys,
System V IPC, POSIX message queues, new namespaces, mounts, tracing other processes, kernel
modules. Each of them is a way for one submission to leave something for the next, or to
reach the machine, so the filter answers them with an error (``EPERM``, as a kernel without
the feature would; ``clone3`` with ``ENOSYS``, so that the C library falls back to
``clone``, whose namespace flags the filter can see). A call through another ABI of the
machine (32-bit ``int 0x80``, x32 numbers), which the rules would not see, ends the
process. Everything else is allowed: torch's shared memory (files in ``/dev/shm``),
``memfd``, Unix sockets and ``fork`` for the DataLoader's workers, threads.

The filter is compiled once per process (:func:`program`) and installed before the worker's
Python starts: bubblewrap loads it from a descriptor (``--seccomp``); without bubblewrap the
worker's child installs it last, between fork and exec (:func:`installer`). Either way it holds
for every process the worker starts, and cannot be lifted.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import tempfile

DENIED: dict[str, str] = {
    # kernel objects that outlive the process that made them
    "add_key": "keys live in the kernel's keyrings, beyond the worker",
    "keyctl": "reads and links keys of the user's keyrings",
    "request_key": "finds keys in the user's keyrings",
    "shmget": "System V shared memory outlives its processes",
    "shmat": "attaches System V shared memory",
    "shmctl": "System V shared memory",
    "shmdt": "System V shared memory",
    "msgget": "System V message queues outlive their processes",
    "msgsnd": "System V message queues",
    "msgrcv": "System V message queues",
    "msgctl": "System V message queues",
    "semget": "System V semaphores outlive their processes",
    "semop": "System V semaphores",
    "semtimedop": "System V semaphores",
    "semctl": "System V semaphores",
    "mq_open": "POSIX message queues outlive their processes",
    "mq_unlink": "POSIX message queues",
    "mq_timedsend": "POSIX message queues",
    "mq_timedreceive": "POSIX message queues",
    "mq_notify": "POSIX message queues",
    "mq_getsetattr": "POSIX message queues",
    # namespaces and mounts: the sandbox's shape is the grader's to set
    "unshare": "new namespaces (an IPC or user namespace of its own, say)",
    "setns": "joining another namespace",
    "mount": "mounts",
    "umount2": "mounts",
    "pivot_root": "mounts",
    "chroot": "a root of its own",
    "open_tree": "mounts",
    "move_mount": "mounts",
    "fsopen": "mounts",
    "fsconfig": "mounts",
    "fsmount": "mounts",
    "fspick": "mounts",
    "mount_setattr": "mounts",
    # other processes and the kernel itself
    "ptrace": "tracing another process",
    "process_vm_readv": "reading another process's memory",
    "process_vm_writev": "writing another process's memory",
    "pidfd_getfd": "taking another process's descriptors",
    "kcmp": "comparing another process's resources",
    "perf_event_open": "performance counters: a side channel on other processes",
    "bpf": "programs run by the kernel",
    "userfaultfd": "stalls the kernel on a page fault (a classic exploit aid)",
    "io_uring_setup": "a second system-call interface this filter would not see",
    "io_uring_enter": "see io_uring_setup",
    "io_uring_register": "see io_uring_setup",
    "name_to_handle_at": "file handles reach files by number",
    "open_by_handle_at": "file handles reach files by number",
    "init_module": "kernel modules",
    "finit_module": "kernel modules",
    "delete_module": "kernel modules",
    "kexec_load": "a new kernel",
    "kexec_file_load": "a new kernel",
    "reboot": "the machine",
    "swapon": "the machine",
    "swapoff": "the machine",
    "acct": "the machine",
    "quotactl": "the machine",
    "syslog": "the kernel's log",
    "lookup_dcookie": "the kernel's profiler",
    "iopl": "hardware ports",
    "ioperm": "hardware ports",
}
"""Every system call the filter refuses, and why no exercise may make it."""

NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}
"""``clone`` with any of these makes a namespace: refused like ``unshare``."""

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class Unavailable(OSError):
    """libseccomp cannot be loaded here (the filter cannot be built)."""


@functools.cache
def program() -> bytes:
    """The filter as a BPF program (what ``bwrap --seccomp`` reads, ``sock_filter`` records)."""
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError) as exc:  # RuntimeError: libseccomp.so.2 is missing
        raise Unavailable(f"libseccomp cannot be loaded: {exc}") from exc
    refused = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    # a call of another ABI (int 0x80, x32 numbers) ends the whole process: killing only the
    # thread that made it would leave the worker hung rather than ended
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    native = seccomp.system_arch()
    for name in DENIED:
        if _exists(seccomp, native, name):
            rules.add_rule(refused, name)
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS.values():
        rules.add_rule(
            refused, "clone", seccomp.Arg(_clone_flags_arg(), seccomp.MASKED_EQ, flag, flag)
        )
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def _exists(seccomp, arch: int, name: str) -> bool:
    """Is ``name`` a system call of this architecture (not one libseccomp only emulates)?"""
    try:
        return seccomp.resolve_syscall(arch, name) >= 0
    except (ValueError, OSError):
        return False


def _clone_flags_arg() -> int:
    """Which argument of ``clone`` holds its flags (the second on s390, the first elsewhere)."""
    return 1 if os.uname().machine.startswith("s390") else 0


def descriptor() -> int:
    """A readable descriptor holding :func:`program`, for ``bwrap --seccomp FD`` (the caller
    closes it once bwrap has started)."""
    data = program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)  # a few hundred bytes: well within a pipe's buffer
    finally:
        os.close(write_end)
    return read_end


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def installer():
    """A function that installs the filter in the calling process, made before a fork so that
    the child (between fork and exec) only makes two ``prctl`` calls."""
    data = program()
    buffer = ctypes.create_string_buffer(data, len(data))
    prog = _SockFprog(len(data) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def install() -> None:
        keep = buffer  # noqa: F841 - the program's memory must live until the kernel copies it
        zero = ctypes.c_ulong(0)
        if prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        mode = ctypes.c_ulong(SECCOMP_MODE_FILTER)
        if prctl(PR_SET_SECCOMP, mode, ctypes.byref(prog), zero, zero) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")

    return install
