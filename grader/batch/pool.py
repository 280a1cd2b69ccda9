"""N trusted child processes (:mod:`grader.batch.child`) grading one submission at a time each.

The hidden suites run through ``pytest.main``, which must not share a process between
concurrent gradings, hence processes. Each child runs in its own session; on Ctrl-C the
pool forwards SIGINT to them and waits, so no partial result lands on disk.
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

from grader.batch.plan import Plan, stage_for_grading
from grader.batch.store import read_result
from grader.submission import Submission

CHILD_STOP_TIMEOUT_S = 15.0


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
        self.buffer = b""

    def send(self, submission: Submission, staged: Path | None) -> None:
        self.task = submission.id
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
            return self.log.read_text(errors="replace")[-600:].strip()
        except OSError:
            return ""

    def stop(self, how: int) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(how)
            except ProcessLookupError:
                pass


class Pool:
    def __init__(self, size: int, plan: Plan, workdir: Path, scratch: Path):
        self.size, self.plan, self.workdir, self.scratch = size, plan, workdir, scratch
        self.children: list[Child] = []
        self.started = 0

    def _spawn(self) -> Child:
        self.started += 1
        threads = max(1, (os.cpu_count() or 1) // self.size)
        child = Child(self.plan, self.scratch / f"child-{self.started}.log", threads)
        self.children.append(child)
        return child

    def run(self, todo: list[Submission], progress, finished) -> None:
        queue = list(reversed(todo))
        selector = selectors.DefaultSelector()
        try:
            for _ in range(self.size):
                child = self._spawn()
                selector.register(child.process.stdout, selectors.EVENT_READ, child)
            while queue or any(c.task for c in self.children):
                for child in self.children:
                    if child.task is None and queue:
                        submission = queue.pop()
                        progress.started(submission.id)
                        child.send(submission, stage_for_grading(submission, self.workdir))
                for key, _ in selector.select(timeout=0.5):
                    self._read(key.data, selector, finished)
        except BaseException:
            self._stop_all()
            raise
        finally:
            for child in self.children:
                if child.process.poll() is None:
                    child.process.stdin.close()
            for child in self.children:
                _wait(child.process, CHILD_STOP_TIMEOUT_S)
            selector.close()

    def _read(self, child: Child, selector, finished) -> None:
        chunk = os.read(child.process.stdout.fileno(), 65536)
        if not chunk:  # the child died: its task could not be graded; start a new child
            selector.unregister(child.process.stdout)
            self.children.remove(child)
            child.process.wait()
            if child.task:
                why = f"the grading process exited ({child.process.returncode}): "
                finished(child.task, None, why + (child.log_tail() or "no output"))
            replacement = self._spawn()
            selector.register(replacement.process.stdout, selectors.EVENT_READ, replacement)
            return
        child.buffer += chunk
        while b"\n" in child.buffer:
            line, child.buffer = child.buffer.split(b"\n", 1)
            answer = json.loads(line)
            child.task = None
            if answer.get("error"):
                finished(answer["id"], None, answer["error"])
            else:
                path = Path(self.plan.out) / f"{answer['id']}.json"
                finished(answer["id"], read_result(path, self.plan.exercises))

    def _stop_all(self) -> None:
        for child in self.children:
            child.stop(signal.SIGINT)
        deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
        for child in self.children:
            _wait(child.process, max(0.1, deadline - time.monotonic()))


def _wait(process: subprocess.Popen, timeout_s: float) -> None:
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
