"""Grade a batch of submissions: resumable, in parallel, and safe to interrupt.

Each result is written to ``<out>/<submission>.json`` atomically the moment it is
graded; a rerun reuses every result already there (unless ``force``), so Ctrl-C loses
nothing that finished. With ``jobs > 1`` each of N trusted child processes
(``python -m grader.batch``, its own session) grades one submission at a time: the
hidden suites run through ``pytest.main``, which must not share a process between
concurrent gradings. On Ctrl-C the parent forwards SIGINT to its children; a child
interrupted mid-submission writes nothing, so no partial result ever lands on disk.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import course_config
from grader.config import EXERCISES
from grader.files import atomic_write
from grader.grading import grade_staged
from grader.results import SubmissionResult
from grader.submission import Submission, stage
from grader.suite_runner import SuiteOptions

CHILD_STOP_TIMEOUT_S = 15.0


@dataclass
class Plan:
    """What every submission of the batch is graded with (sent to child processes as JSON)."""

    exercises: list[str]
    options: SuiteOptions
    config: str | None = None
    out: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        root = self.options.data_root
        data["options"]["data_root"] = str(root) if root else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        options = SuiteOptions(**data.pop("options"))
        if options.data_root:
            options.data_root = Path(options.data_root)
        return cls(options=options, **data)

    def grade(
        self,
        course: course_config.CourseConfig,
        submission_id: str,
        staged: Path | None,
        error: str = "",
        notes=(),
    ) -> SubmissionResult:
        """Grade one staged submission and write its result to ``out`` (raises GradingError)."""
        result = grade_staged(
            submission_id,
            staged,
            exercises=[EXERCISES[key] for key in self.exercises],
            options=self.options,
            course=course,
            error=error,
            notes=notes,
        )
        write_result(result, Path(self.out))
        return result


@dataclass
class Outcome:
    results: list[SubmissionResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Submission id -> why the grader could not grade it (not the student's fault)."""
    reused: int = 0


def write_result(result: SubmissionResult, out: Path) -> Path:
    """Write ``<out>/<submission>.json`` atomically (a crash never leaves half a file)."""
    from grader.formats import to_json_line

    path = out / f"{result.submission}.json"
    atomic_write(path, lambda f: f.write((to_json_line(result) + "\n").encode("utf-8")))
    return path


def written_by_grader(path: Path) -> bool:
    """Is ``path`` this user's, a plain file, and neither it nor its folder writable by
    every user? (Workers run as users of their own: a result one could have written is
    never trusted.)"""
    try:
        for item in (path.parent, path):
            info = item.lstat()
            if info.st_uid != os.geteuid() or info.st_mode & 0o002 or stat.S_ISLNK(info.st_mode):
                return False
    except OSError:
        return False
    return True


def read_result(path: Path, exercises: list[str]) -> SubmissionResult | None:
    """A stored result, if the grader wrote it, it is complete and graded the same exercises;
    else ``None`` (the submission is graded again)."""
    if not written_by_grader(path):
        return None
    try:
        result = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return result if list(result.exercises) == exercises else None


def grade_all(
    submissions: list[Submission],
    plan: Plan,
    *,
    course: course_config.CourseConfig,
    jobs: int = 1,
    force: bool = False,
    stderr=None,
    on_result=None,
) -> Outcome:
    """Grade ``submissions`` (reusing stored results), in submission order."""
    stderr = stderr or sys.stderr
    outcome = Outcome()
    done: dict[str, SubmissionResult] = {}
    with tempfile.TemporaryDirectory(prefix="grader-batch-") as scratch:
        out = Path(plan.out) if plan.out else Path(scratch) / "results"
        plan = Plan(plan.exercises, plan.options, plan.config, str(out))
        todo = []
        for submission in submissions:
            stored = None if force else read_result(out / f"{submission.id}.json", plan.exercises)
            if stored is not None:
                done[submission.id] = stored
                if on_result:
                    on_result(stored)
            else:
                todo.append(submission)
        outcome.reused = len(done)
        progress = Progress(len(submissions), stderr, already=len(done))

        def finished(submission_id: str, result: SubmissionResult | None, error: str = ""):
            if result is None:
                outcome.failed[submission_id] = error
                progress.failed(submission_id, error)
                return
            done[submission_id] = result
            progress.finished(result)
            if on_result:
                on_result(result)

        workdir = Path(scratch) / "staged"
        try:
            if jobs == 1 or len(todo) <= 1:
                _grade_inline(todo, plan, course, workdir, progress, finished)
            else:
                _Pool(min(jobs, len(todo)), plan, workdir, Path(scratch)).run(
                    todo, progress, finished
                )
        except KeyboardInterrupt:
            progress.interrupted(len(done), out if plan.out else None)
            raise
        progress.close()
    outcome.results = [done[s.id] for s in submissions if s.id in done]
    progress.summary(outcome)
    return outcome


class Progress:
    """Progress on stderr: a line per event; on a terminal also a live bar."""

    def __init__(self, total: int, stream, *, already: int = 0):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.done, self.running, self.failures, self.launched = already, 0, 0, already
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        if already:
            self._line(f"{already} of {total} already graded (kept; --force regrades them)")

    def _line(self, text: str) -> None:
        print(("\r\033[K" if self.tty else "") + text, file=self.stream, flush=True)
        self.tick()

    def tick(self) -> None:
        if self.tty:
            width = 30
            filled = width * (self.done + self.failures) // max(self.total, 1)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r[{bar}] {self.done}/{self.total} done, {self.running} running, "
                f"{self.failures} failed, {time.monotonic() - self.start:.0f} s"
            )
            self.stream.flush()

    def started(self, submission_id: str) -> None:
        self.running, self.launched = self.running + 1, self.launched + 1
        self._line(f"[{self.launched}/{self.total}] grading {submission_id} ...")

    def finished(self, result: SubmissionResult) -> None:
        self.running, self.done = self.running - 1, self.done + 1
        self._line(
            f"[{self.done + self.failures}/{self.total}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} in {result.duration_s:.1f} s"
        )

    def failed(self, submission_id: str, error: str) -> None:
        self.running, self.failures = self.running - 1, self.failures + 1
        self._line(f"{submission_id}: NOT GRADED: {error}")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def interrupted(self, kept: int, out: Path | None) -> None:
        self.close()
        where = f"saved in {out}; rerun the same command to finish" if out else "not saved"
        print(f"interrupted: {kept} of {self.total} graded, {where}", file=self.stream)

    def summary(self, outcome: Outcome) -> None:
        elapsed = time.monotonic() - self.start
        graded = len(outcome.results) - outcome.reused
        rows = [
            ("submissions", str(self.total)),
            ("graded now", str(graded)),
            ("kept from an earlier run", str(outcome.reused)),
            ("not graded (grader failure)", str(len(outcome.failed))),
            ("wall time", f"{elapsed:.1f} s"),
        ]
        if graded:
            rows.append(("submissions per minute", f"{graded / elapsed * 60:.1f}"))
        if outcome.results:
            mean = sum(r.score for r in outcome.results) / len(outcome.results)
            rows.append(("mean score", f"{mean:.1f}/{outcome.results[0].max_score:g}"))
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        print("summary:\n" + "\n".join(lines), file=self.stream, flush=True)


def _stage(submission: Submission, workdir: Path) -> Path | None:
    """The submission's staged folder; None (with ``submission.error`` set) if it has none."""
    if submission.error:
        return None
    try:
        return stage(submission, workdir / submission.id)
    except (OSError, ValueError) as exc:
        submission.error = f"its files could not be staged ({type(exc).__name__}: {exc})"
        return None


def _grade_inline(todo, plan: Plan, course, workdir: Path, progress, finished) -> None:
    from grader.errors import GradingError

    for submission in todo:
        progress.started(submission.id)
        try:
            staged = _stage(submission, workdir)
            result = plan.grade(course, submission.id, staged, submission.error, submission.notes)
        except GradingError as exc:
            finished(submission.id, None, str(exc))
            continue
        finished(submission.id, result)


class _Child:
    """One trusted grading process; tasks in on stdin, one JSON line per answer on stdout."""

    def __init__(self, plan: Plan, log: Path, threads: int):
        self.log = log
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(threads))  # N children share the cores
        with log.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "grader.batch", plan.to_json()],
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


class _Pool:
    def __init__(self, size: int, plan: Plan, workdir: Path, scratch: Path):
        self.size, self.plan, self.workdir, self.scratch = size, plan, workdir, scratch
        self.children: list[_Child] = []
        self.started = 0

    def _spawn(self) -> _Child:
        self.started += 1
        threads = max(1, (os.cpu_count() or 1) // self.size)
        child = _Child(self.plan, self.scratch / f"child-{self.started}.log", threads)
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
                        child.send(submission, _stage(submission, self.workdir))
                for key, _ in selector.select(timeout=0.5):
                    self._read(key.data, selector, finished)
                progress.tick()
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

    def _read(self, child: _Child, selector, finished) -> None:
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


def _child_main(plan_json: str) -> int:
    """A batch child: grade each staged submission named on stdin; answer on stdout."""
    from grader.errors import GradingError

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the log, never into the answers
    sys.stdout = sys.stderr
    plan = Plan.from_json(plan_json)
    course = course_config.load(Path(plan.config)) if plan.config else course_config.defaults()
    try:
        for line in sys.stdin:
            task = json.loads(line)
            answer = {"id": task["id"]}
            staged = Path(task["staged"]) if task["staged"] else None
            try:
                plan.grade(course, task["id"], staged, task["error"], task.get("notes", []))
            except GradingError as exc:
                answer["error"] = str(exc)
            answers.write(json.dumps(answer) + "\n")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
