"""``grader run``: grade submissions, one sandboxed worker per exercise.

:func:`run` resolves the options (flag, then course configuration, then defaults),
hands the submissions to :mod:`grader.batch` and renders the results; ``grader calibrate``
measures the gate's reference cost here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader import batch, calibration, course_config, formats, gate_settings
from grader.errors import GraderError
from grader.gate_settings import GateSettings
from grader.grading import gate_cores
from grader.kit import REPO_ROOT, SOLUTIONS_DIR, SUITES_DIR, select_exercises
from grader.results import SubmissionResult
from grader.sandbox import cpus, policy
from grader.submission import Submission, discover, load
from grader.suite_runner import SuiteOptions


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise GraderError(f"unknown device {device!r}: use auto, cpu or cuda")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for, but no CUDA device is available")
    return device


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
        probe_timeout_s=probe_timeout_s,
    )
    recipe = _recipe(course, options.device, gate_overrides)
    if gate and any(e.key == "ex5" for e in selected):
        options.data_root = _gate_data(data_root, stderr)
        options.gate = GateSettings(recipe, _gate_reference(recipe, options, stderr))
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
        probe_timeout_s=None,
    )
    recipe = {**_recipe(course, options.device, gate_overrides), "time_limit_s": None}
    options.data_root = _gate_data(data_root, stderr)
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


def _options(course, *, device, isolation, probe_timeout_s) -> SuiteOptions:
    """The command line's values, else the course configuration's for ``device``."""
    if probe_timeout_s is None:
        probe_timeout_s = course.devices[device].probe_timeout_s
    return SuiteOptions(device=device, isolation=isolation, probe_timeout_s=probe_timeout_s)


def _recipe(course, device: str, gate_overrides: dict | None) -> dict:
    """The gate's recipe for ``device``: the course configuration's values over the calibrated
    one, the command line's (``--gate-set``, already typed) over those."""
    try:
        return gate_settings.resolve(
            device,
            course.gate_overrides(device),
            course.source or "the course defaults",
            gate_overrides or {},
        )
    except ValueError as exc:
        raise GraderError(str(exc)) from None


def _isolation(requested: str, required: bool, stderr) -> str:
    chosen = policy.choose(requested, required=required)
    if chosen != "bwrap":
        print(
            "warning: reduced isolation: student code runs as a plain process of its own user "
            "with resource limits, without bubblewrap",
            file=stderr,
        )
    return chosen


def _gate_reference(recipe: dict, options: SuiteOptions, stderr, *, force: bool = False) -> dict:
    """The reference's training cost on this machine, measured once (``{}`` where the course
    sets an absolute limit; ``{"error": why}`` where it cannot be measured)."""
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
