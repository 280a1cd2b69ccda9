"""``grader run``: grade submissions, one sandboxed worker per exercise."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from grader import __version__, report
from grader.config import PROBE_TIMEOUT_S, SOLUTIONS_DIR, gate_recipe, select_exercises
from grader.grading import SuiteOptions, run_suite
from grader.results import SubmissionResult
from grader.sandbox import detect_isolation
from grader.submission import Submission, discover, load, stage


class GraderError(RuntimeError):
    """The grader cannot do its job (bad arguments, no data, no sandbox when required)."""


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise GraderError(f"unknown device {device!r}: use auto, cpu or cuda")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for, but no CUDA device is available")
    return device


def grade(
    submission: Submission,
    *,
    exercises,
    options: SuiteOptions,
    workdir: Path,
) -> SubmissionResult:
    """Grade one submission: stage its files, run each exercise's hidden suite."""
    start = time.monotonic()
    tests = []
    messages = {}
    if submission.error:
        messages = {e.key: f"not graded: {submission.error}" for e in exercises}
    else:
        staged = stage(submission, workdir / submission.id)
        for exercise in exercises:
            tests.extend(run_suite(exercise, staged, options))
    warnings = [f"the submission could not be read: {submission.error}"] if submission.error else []
    if options.isolation != "bwrap":
        warnings.append(
            "isolation was reduced: bubblewrap is not available, so student code "
            "ran as a plain subprocess with resource limits"
        )
    return SubmissionResult.build(
        submission.id,
        tests,
        {e.key: e.points for e in exercises},
        messages=messages,
        device=options.device,
        isolation=options.isolation,
        grader_version=__version__,
        duration_s=round(time.monotonic() - start, 2),
        warnings=warnings,
    )


def write_result(result: SubmissionResult, out: Path) -> Path:
    """Write ``<out>/<submission>.json`` atomically (a crash never leaves half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.submission}.json"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{result.submission}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(report.to_json_line(result) + "\n")
    os.replace(tmp, path)
    return path


def run(
    paths: list[Path] | None = None,
    *,
    reference: bool = False,
    device: str = "auto",
    exercises: str | None = None,
    gate: bool = True,
    fmt: str = "table",
    out: Path | None = None,
    require_isolation: bool = False,
    isolation: str = "auto",
    data_root: Path | None = None,
    gate_overrides: dict | None = None,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
    stdout=None,
    stderr=None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths`` and print the results in ``fmt``."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        selected = select_exercises(exercises)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    if fmt not in ("table", "json"):
        raise GraderError(f"unknown format {fmt!r}: use table or json")
    if reference:
        submissions = [load(SOLUTIONS_DIR, "reference")]
    elif paths:
        try:
            submissions = discover(paths)
        except ValueError as exc:
            raise GraderError(str(exc)) from None
    else:
        raise GraderError("nothing to grade: give a submission path or --reference")
    isolation = _isolation(isolation, require_isolation, stderr)
    gate_overrides = dict(gate_overrides or {})
    try:
        gate_recipe("cpu", gate_overrides)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    options = SuiteOptions(
        device=resolve_device(device),
        isolation=isolation,
        gate=gate,
        gate_overrides=gate_overrides,
        probe_timeout_s=probe_timeout_s,
    )
    if gate and any(e.key == "ex5" for e in selected):
        options.data_root = _gate_data(data_root, stderr)
    results = []
    with tempfile.TemporaryDirectory(prefix="grader-") as workdir:
        for index, submission in enumerate(submissions, 1):
            print(f"[{index}/{len(submissions)}] grading {submission.id} ...", file=stderr)
            result = grade(submission, exercises=selected, options=options, workdir=Path(workdir))
            results.append(result)
            if out is not None:
                write_result(result, out)
            if fmt == "json":
                print(report.to_json_line(result), file=stdout, flush=True)
            print(
                f"[{index}/{len(submissions)}] {submission.id}: {result.score:g}/"
                f"{result.max_score:g} in {result.duration_s:.1f} s",
                file=stderr,
            )
    if fmt == "table":
        stdout.write(report.table(results))
    return results


def _isolation(requested: str, required: bool, stderr) -> str:
    available = detect_isolation()
    if requested not in ("auto", "bwrap", "process"):
        raise GraderError(f"unknown isolation {requested!r}: use auto, bwrap or process")
    if (requested == "bwrap" or required) and available != "bwrap":
        raise GraderError(
            "bubblewrap (bwrap) is not available here, and isolation was required; "
            "install the Debian package bubblewrap"
        )
    chosen = available if requested == "auto" else requested
    if chosen != "bwrap":
        print(
            "warning: student code runs as a plain subprocess with resource limits, without "
            "bubblewrap (reduced isolation)",
            file=stderr,
        )
    return chosen


def _gate_data(data_root: Path | None, stderr) -> Path:
    from grader import data

    try:
        return Path(data.ensure_prepared(root=data_root))
    except Exception as exc:  # noqa: BLE001 - any failure to get data stops the run clearly
        raise GraderError(
            f"the CIFAR-10 gate needs the data set and it could not be prepared: {exc}. "
            "Run `grader data prepare` (offline: set CIFAR10_SOURCE), or grade with --no-gate"
        ) from None
