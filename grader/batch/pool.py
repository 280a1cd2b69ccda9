"""N trusted child processes (:mod:`grader.batch.child`) grading one submission at a time each.

The hidden suites run through ``pytest.main``, which must not share a process between
concurrent gradings, hence processes; and a process can be stopped whatever it is doing,
hence always a child, one submission at a time included. Each child runs in its own session.
A child still grading a submission at its deadline is ended with every sandbox it holds
(:mod:`grader.batch.reaper`), that submission alone is reported as not graded ("grading
stopped after N s on the trusted side"), and a new child takes the next one. On Ctrl-C the
pool forwards SIGINT to the children and ends those still running after a short grace, so a
run stops within seconds and no partial result lands on disk.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader.batch import reaper
from grader.batch.outcome import stage_for_grading
from grader.grading.plan import Plan
from grader.results.model import SubmissionResult
from grader.submissions.loading import Submission

STOP_GRACE_S = 5.0
"""After SIGINT (Ctrl-C), how long children may take to end their sandboxes themselves."""
EXIT_GRACE_S = 15.0
"""At the end of a batch, how long an idle child may take to end its fork servers."""


class Child:
    """One trusted grading process; tasks in on stdin, one JSON line per answer on stdout."""

    def __init__(self, plan: Plan, log: Path, threads: int):
        self.log = log
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(threads))  # N children share the cores
        with log.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "grader.batch.child", plan.to_json()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                start_new_session=True,
            )
        self.task: str | None = None
        self.since = 0.0
        """When the task was sent (monotonic seconds)."""
        self.buffer = b""

    def send(self, submission: Submission, staged: Path | None) -> None:
        self.task, self.since = submission.id, time.monotonic()
        line = {
            "id": submission.id,
            "staged": str(staged or ""),
            "error": submission.error,
            "notes": submission.notes,
        }
        self.process.stdin.write((json.dumps(line) + "\n").encode())
        self.process.stdin.flush()

    def log_tail(self) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 600))
                return log.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def interrupt(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass


class Pool:
    """``size`` children; ``deadline_s``: the wall seconds one submission's grading may take."""

    def __init__(self, size: int, plan: Plan, workdir: Path, scratch: Path, deadline_s: float):
        self.size, self.plan, self.workdir, self.scratch = size, plan, workdir, scratch
        self.deadline_s = deadline_s
        self.children: list[Child] = []
        self.started = 0
        self.selector = selectors.DefaultSelector()

    def _spawn(self) -> Child:
        self.started += 1
        threads = max(1, (os.cpu_count() or 1) // self.size)
        child = Child(self.plan, self.scratch / f"child-{self.started}.log", threads)
        self.children.append(child)
        self.selector.register(child.process.stdout, selectors.EVENT_READ, child)
        return child

    def _drop(self, child: Child) -> None:
        self.selector.unregister(child.process.stdout)
        self.children.remove(child)

    def run(self, todo: list[Submission], progress, finished) -> None:
        queue = list(reversed(todo))
        try:
            for _ in range(self.size):
                self._spawn()
            while queue or any(c.task for c in self.children):
                for child in list(self.children):
                    if child.task is None and queue:
                        submission = queue.pop()
                        progress.started(submission.id)
                        child.send(submission, stage_for_grading(submission, self.workdir))
                for key, _ in self.selector.select(timeout=0.5):
                    self._read(key.data, finished)
                self._enforce_deadline(finished)
        except BaseException:
            self._stop_all()
            raise
        finally:
            self._close()

    def _read(self, child: Child, finished) -> None:
        chunk = os.read(child.process.stdout.fileno(), 65536)
        if not chunk:  # the child died: its task could not be graded; start a new child
            self._drop(child)
            reaper.end(child.process)
            if child.task:
                why = f"the grading process exited ({child.process.returncode}): "
                finished(child.task, None, why + (child.log_tail() or "no output"))
            self._spawn()
            return
        child.buffer += chunk
        while b"\n" in child.buffer:
            line, child.buffer = child.buffer.split(b"\n", 1)
            answer = json.loads(line)
            child.task = None
            if "result" in answer:
                finished(answer["id"], SubmissionResult.from_dict(answer["result"]))
            else:
                finished(answer["id"], None, answer.get("error") or "no result")

    def _enforce_deadline(self, finished) -> None:
        """End each child whose submission is past its deadline; a new child takes its place."""
        now = time.monotonic()
        for child in [c for c in self.children if c.task and now - c.since > self.deadline_s]:
            self._drop(child)
            self._end(child)
            finished(
                child.task,
                None,
                f"grading stopped after {now - child.since:.0f} s on the trusted side (one "
                f"submission's deadline: {self.deadline_s:g} s, set with --deadline)",
            )
            self._spawn()

    def _end(self, child: Child) -> None:
        """End ``child`` and its sandboxes; drop a result file it had begun to write."""
        reaper.end(child.process)
        if child.task and self.plan.out:
            for partial in Path(self.plan.out).glob(f".{child.task}.json.*.tmp"):
                partial.unlink(missing_ok=True)

    def _stop_all(self) -> None:
        """Ctrl-C: SIGINT to every child, then, after a short grace, end those still running
        (a second Ctrl-C meanwhile changes nothing: the sandboxes are ended all the same)."""
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to hold off
            previous = None
        try:
            for child in self.children:
                child.interrupt()
            deadline = time.monotonic() + STOP_GRACE_S
            for child in self.children:
                _wait(child.process, deadline - time.monotonic())
                self._end(child)
            self.children = []
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _close(self) -> None:
        """No more tasks: each child ends its sandboxes and exits (or is ended after a grace)."""
        for child in self.children:
            if child.process.poll() is None:
                child.process.stdin.close()
        deadline = time.monotonic() + EXIT_GRACE_S
        for child in self.children:
            _wait(child.process, deadline - time.monotonic())
            self._end(child)
        self.selector.close()


def _wait(process: subprocess.Popen, timeout_s: float) -> None:
    try:
        process.wait(timeout=max(0.1, timeout_s))
    except subprocess.TimeoutExpired:
        pass
