"""``grader run``: grade submissions, one sandboxed worker per exercise.

:func:`run` resolves the options (flag, then course configuration, then defaults),
hands the submissions to :mod:`grader.batch` and renders the results. :func:`grade_staged`
grades one staged submission folder; it is what a batch child process calls.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from grader import __version__, calibration, course_config
from grader.config import (
    REPO_ROOT,
    SOLUTIONS_DIR,
    SUITES_DIR,
    Exercise,
    gate_recipe,
    select_exercises,
)
from grader.errors import GraderError
from grader.grading import SuiteOptions, run_suite
from grader.results import SubmissionResult, TestResult
from grader.sandbox import cpus, policy
from grader.sandbox.limits import Limits
from grader.submission import Submission, discover, load

REDUCED_ISOLATION = (
    "isolation was reduced (--isolation process): student code ran as a plain process of "
    "its own user with resource limits, not inside bubblewrap"
)


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise GraderError(f"unknown device {device!r}: use auto, cpu or cuda")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for, but no CUDA device is available")
    return device


def _apply_course(
    tests: list[TestResult], exercise: Exercise, course: course_config.CourseConfig
) -> list[TestResult]:
    """Scale the suite's points to the course's total for ``exercise``; set visibility."""
    suite_total = sum(t.max_score for t in tests)
    factor = course.points[exercise.key] / suite_total if suite_total else 1.0
    scaled = []
    for t in tests:
        t = replace(t, visibility=course.visibility_of(exercise.key, t.name))
        if factor != 1.0:
            t = replace(
                t, score=round(t.score * factor, 4), max_score=round(t.max_score * factor, 4)
            )
        scaled.append(t)
    return scaled


def grade_staged(
    submission_id: str,
    staged: Path | None,
    *,
    exercises: list[Exercise],
    options: SuiteOptions,
    course: course_config.CourseConfig,
    error: str = "",
    notes: list[str] | tuple[str, ...] = (),
) -> SubmissionResult:
    """Grade a staged submission folder (``None`` with ``error``: it could not be read).

    ``notes`` (e.g. a renamed duplicate id) go into the result's warnings.
    """
    start = time.monotonic()
    tests: list[TestResult] = []
    messages = {}
    if error or staged is None:
        messages = {e.key: f"not graded: {error}" for e in exercises}
    else:
        slots = cpus.Slots()
        for exercise in exercises:
            with slots.hold(cores_for(exercise, options)) as cores:
                exercise_options = replace(options, cores=cores, background=not cores)
                graded, suite_notes = run_suite(exercise, staged, exercise_options)
            tests.extend(_apply_course(graded, exercise, course))
            notes = [*notes, *suite_notes]
    warnings = list(notes)
    if options.gate and options.gate_reference.get("error"):
        warnings.append(options.gate_reference["error"])
    if error:
        warnings.append(f"the submission could not be read: {error}")
    if options.isolation != "bwrap":
        warnings.append(REDUCED_ISOLATION)
    return SubmissionResult.build(
        submission_id,
        tests,
        {e.key: course.points[e.key] for e in exercises},
        messages=messages,
        device=options.device,
        isolation=options.isolation,
        grader_version=__version__,
        duration_s=round(time.monotonic() - start, 2),
        warnings=warnings,
        sandbox=policy.record(options.isolation, Limits(), options.device),
    )


def run(
    paths: list[Path] | None = None,
    *,
    reference: bool = False,
    device: str = "auto",
    exercises: str | None = None,
    gate: bool = True,
    fmt: str = "table",
    out: Path | None = None,
    jobs: int = 1,
    force: bool = False,
    config: Path | None = None,
    require_isolation: bool = False,
    isolation: str = "auto",
    data_root: Path | None = None,
    gate_overrides: dict | None = None,
    probe_timeout_s: float | None = None,
    stdout=None,
    stderr=None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths`` and print the results in ``fmt``."""
    from grader import batch, formats

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if fmt not in formats.FORMATS:
        raise GraderError(f"unknown format {fmt!r}: use {', '.join(formats.FORMATS)}")
    if jobs < 1:
        raise GraderError(f"--jobs must be at least 1, got {jobs}")
    try:
        course = course_config.load(config)
        selected = select_exercises(exercises)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    submissions = _submissions(paths, reference)
    options = _options(
        course,
        device=resolve_device(device),
        isolation=_isolation(isolation, require_isolation, stderr),
        gate=gate and any(e.key == "ex5" for e in selected),
        gate_overrides=gate_overrides,
        probe_timeout_s=probe_timeout_s,
    )
    if options.gate:
        options.data_root = _gate_data(data_root, stderr)
        options.gate_reference = _gate_reference(options, stderr)
    if options.isolation == "process":
        extra = list(paths or [])
        if out is not None:
            Path(out).mkdir(mode=0o700, parents=True, exist_ok=True)
            extra.append(Path(out))
        if options.data_root is not None:
            extra.append(Path(options.data_root) / "test")
        policy.protect(REPO_ROOT, [SUITES_DIR, SOLUTIONS_DIR], extra, stderr)
    plan = batch.Plan(
        exercises=[e.key for e in selected],
        options=options,
        config=course.source,
        out=str(out) if out else None,
    )
    on_result = None
    if fmt == "json":

        def on_result(result):
            print(formats.to_json_line(result), file=stdout, flush=True)

    outcome = batch.grade_all(
        submissions,
        plan,
        course=course,
        jobs=jobs,
        force=force,
        stderr=stderr,
        on_result=on_result,
    )
    if fmt != "json":
        formats.emit(fmt, outcome.results, stdout)
    if out is not None:
        from grader import feedback_page

        feedback_page.write_all(outcome.results, Path(out) / "feedback")
    if outcome.failed:
        reasons = "; ".join(f"{sid}: {why}" for sid, why in outcome.failed.items())
        raise GraderError(f"{len(outcome.failed)} submission(s) could not be graded: {reasons}")
    return outcome.results


def calibrate(
    *,
    device: str = "auto",
    config: Path | None = None,
    isolation: str = "auto",
    data_root: Path | None = None,
    gate_overrides: dict | None = None,
    repeats: int = 1,
    stdout=None,
    stderr=None,
) -> dict:
    """``grader calibrate``: measure (again) what the reference's gate training costs here."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if repeats < 1:
        raise GraderError(f"--repeats must be at least 1, got {repeats}")
    try:
        course = course_config.load(config)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    options = _options(
        course,
        device=resolve_device(device),
        isolation=_isolation(isolation, False, stderr),
        gate=True,
        gate_overrides={**(gate_overrides or {}), "time_limit_s": None},
        probe_timeout_s=None,
    )
    options.data_root = _gate_data(data_root, stderr)
    recipe = gate_recipe(options.device, options.gate_overrides)
    with cpus.Slots().hold(gate_cores(recipe, options.device)) as cores:
        try:
            entry = calibration.measure(
                options.data_root,
                device=options.device,
                recipe=recipe,
                isolation=options.isolation,
                cores=cores,
                repeats=repeats,
                progress=lambda text: print(text, file=stderr, flush=True),
            )
        except calibration.CalibrationError as exc:
            raise GraderError(str(exc)) from None
    machine = entry["machine"]
    basis = "cpu_s" if options.device == "cpu" and entry["cpu_s"] else "wall_s"
    print(
        f"the reference trains in {entry['wall_s']:.1f} s ({entry['cpu_s'] or 0:.1f} CPU s) on "
        f"{machine['device_name']} with {machine['cores']} core(s); the gate's limit here is "
        f"{recipe['time_factor']:g} x {entry[basis]:.1f} {basis.replace('_s', '')} s, "
        f"kept in {Path(options.data_root) / calibration.FILE}",
        file=stdout,
    )
    return entry


def _submissions(paths: list[Path] | None, reference: bool) -> list[Submission]:
    if reference:
        return [load(SOLUTIONS_DIR, "reference")]
    if not paths:
        raise GraderError("nothing to grade: give a submission path or --reference")
    try:
        return discover(paths)
    except ValueError as exc:
        raise GraderError(str(exc)) from None


def _options(course, *, device, isolation, gate, gate_overrides, probe_timeout_s) -> SuiteOptions:
    """Course configuration for ``device`` first, then the command line's values over it."""
    overrides = course.gate_overrides(device) | dict(gate_overrides or {})
    try:
        gate_recipe(device, overrides)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    if probe_timeout_s is None:
        probe_timeout_s = course.devices[device].probe_timeout_s
    return SuiteOptions(
        device=device,
        isolation=isolation,
        gate=gate,
        gate_overrides=overrides,
        probe_timeout_s=probe_timeout_s,
    )


def _isolation(requested: str, required: bool, stderr) -> str:
    chosen = policy.choose(requested, required=required)
    if chosen != "bwrap":
        print(
            "warning: reduced isolation: student code runs as a plain process of its own user "
            "with resource limits, without bubblewrap",
            file=stderr,
        )
    return chosen


def gate_cores(recipe: dict, device: str) -> int:
    """The cores a gate trains with: its torch threads and loader workers (all, on a GPU)."""
    if device == "cuda" or not recipe.get("threads"):
        return len(cpus.available())
    return int(recipe["threads"]) + int(recipe["num_workers"])


def cores_for(exercise: Exercise, options: SuiteOptions) -> int:
    """The cores an exercise holds: the gate's, where it trains; none elsewhere (those
    workers run at the lowest priority on whatever cores no gate holds)."""
    if exercise.key == "ex5" and options.gate:
        return gate_cores(gate_recipe(options.device, options.gate_overrides), options.device)
    return 0


def _gate_reference(options: SuiteOptions, stderr, *, force: bool = False) -> dict:
    """The reference's training cost on this machine, measured once (``{}`` where the course
    sets an absolute limit; ``{"error": why}`` where it cannot be measured)."""
    recipe = gate_recipe(options.device, options.gate_overrides)
    if recipe.get("time_limit_s") is not None:
        return {}
    slots = cpus.Slots()
    with slots.hold(gate_cores(recipe, options.device)) as cores:
        description = calibration.machine(options.device, recipe, len(cores), options.isolation)
        stored = None if force else calibration.lookup(options.data_root, description)
        if stored is not None:
            return stored
        try:
            return calibration.measure(
                options.data_root,
                device=options.device,
                recipe=recipe,
                isolation=options.isolation,
                cores=cores,
                progress=lambda text: print(text, file=stderr, flush=True),
            )
        except calibration.CalibrationError as exc:
            why = f"the gate's time limit is absolute, not relative to this machine: {exc}"
            print(f"warning: {why}", file=stderr)
            return {"error": why}


def _gate_data(data_root: Path | None, stderr) -> Path:
    from grader import data

    try:
        return Path(data.ensure_prepared(root=data_root))
    except Exception as exc:  # noqa: BLE001 - any failure to get data stops the run clearly
        raise GraderError(
            f"the CIFAR-10 gate needs the data set and it could not be prepared: {exc}. "
            "Run `grader data prepare` (offline: set CIFAR10_SOURCE), or grade with --no-gate"
        ) from None
