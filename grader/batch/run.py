"""``grader run``: grade submissions, one sandboxed worker per exercise.

:func:`run` resolves the options (flag, then course configuration, then defaults),
hands the submissions to :mod:`grader.batch` and renders the results; ``grader calibrate``
measures the gate's reference cost here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader import batch
from grader.batch import slurm
from grader.course import config as course_config
from grader.course import recipes
from grader.course.recipes import GateSettings
from grader.errors import GraderError
from grader.gate import calibration
from grader.grading.grade import gate_cores
from grader.grading.suite_runner import SuiteOptions
from grader.kit import REPO_ROOT, SOLUTIONS_DIR, SUITES_DIR, select_exercises
from grader.results import formats
from grader.results.model import SubmissionResult
from grader.sandbox import cpus, policy
from grader.submissions.loading import Submission, discover, load

EXECUTORS = ("local", "slurm")


def check_device(device: str) -> None:
    """Is ``device`` one of the ``--device`` words (checked where it cannot be resolved yet)?"""
    if device not in ("auto", "cpu", "cuda"):
        raise GraderError(f"unknown device {device!r}: use auto, cpu or cuda")


def _no_gpu_here() -> bool:
    """Is there certainly no NVIDIA GPU (no driver, no device files)? Then ``auto`` is cpu
    without importing torch (a second of CPU for every run)."""
    return not Path("/proc/driver/nvidia").exists() and not any(Path("/dev").glob("nvidia*"))


def resolve_device(device: str) -> str:
    check_device(device)
    if device == "auto" and _no_gpu_here():
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was asked for, but no CUDA device is available")
    return device


@dataclass
class Request:
    """What ``grader run`` was asked, before anything is resolved on the machine that grades
    (a Slurm node resolves the device, the isolation and the gate's reference cost itself)."""

    exercises: list[str]
    device: str = "auto"
    isolation: str = "auto"
    require_isolation: bool = False
    gate: bool = True
    gate_overrides: dict = field(default_factory=dict)
    probe_timeout_s: float | None = None
    deadline_s: float | None = None
    data_root: str | None = None
    config: str | None = None
    out: str | None = None
    paths: list[str] = field(default_factory=list)


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
    deadline_s: float | None = None,
    executor: str = "local",
    detach: bool = False,
    slurm_set: list[str] | None = None,
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
    if deadline_s is not None and not deadline_s > 0:
        raise GraderError(f"--deadline must be a number of seconds above 0, got {deadline_s:g}")
    if executor not in EXECUTORS:
        raise GraderError(f"unknown executor {executor!r}: use {', '.join(EXECUTORS)}")
    if executor == "local" and (detach or slurm_set):
        raise GraderError("--detach and --slurm-set are for --executor slurm")
    if executor == "slurm" and out is None:
        raise GraderError("--executor slurm needs --out DIR, a folder the cluster's nodes share")
    try:
        course = course_config.load(config)
        selected = select_exercises(exercises)
        settings = course_config.slurm_settings(
            course_config.parse_slurm_pairs(slurm_set), course.slurm
        )
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    submissions = _submissions(paths, reference)
    request = Request(
        exercises=[e.key for e in selected],
        device=device,
        isolation=isolation,
        require_isolation=require_isolation,
        gate=gate and any(e.key == "ex5" for e in selected),
        gate_overrides=dict(gate_overrides or {}),
        probe_timeout_s=probe_timeout_s,
        deadline_s=deadline_s,
        data_root=str(Path(data_root).resolve()) if data_root else None,
        config=str(Path(course.source).resolve()) if course.source else None,
        out=str(Path(out).resolve()) if out else None,
        paths=[str(Path(p).resolve()) for p in paths or []],
    )
    on_result = None
    if fmt == "json":

        def on_result(result):
            print(formats.to_json_line(result), file=stdout, flush=True)

    if executor == "slurm":
        outcome = _grade_on_slurm(
            course, request, submissions, settings, jobs, force, detach, stderr, on_result
        )
        if outcome is None:
            return []
    else:
        if out is not None:
            slurm.follow_running_array(Path(out), stderr, force=force)
        outcome = grade_here(
            request, submissions, jobs=jobs, force=force, stderr=stderr, on_result=on_result
        )
    if fmt != "json":
        formats.emit(fmt, outcome.results, stdout)
    if out is not None:
        from grader.results import feedback_page

        feedback_page.write_all(outcome.results, Path(out) / "feedback")
    if outcome.failed:
        reasons = "; ".join(f"{sid}: {why}" for sid, why in outcome.failed.items())
        raise GraderError(f"{len(outcome.failed)} submission(s) could not be graded: {reasons}")
    return outcome.results


def grade_here(
    request: Request,
    submissions: list[Submission],
    *,
    jobs: int = 1,
    force: bool = False,
    on_node: bool = False,
    stderr=None,
    on_result=None,
) -> batch.Outcome:
    """Grade ``submissions`` on this machine: the request resolved here (device, isolation,
    data, the gate's reference cost), then the local batch (stored results kept)."""
    stderr = stderr or sys.stderr
    try:  # read again here: a node reads it from the shared file system
        course = course_config.load(Path(request.config) if request.config else None)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    options = _options(
        course,
        device=resolve_device(request.device),
        isolation=_isolation(request.isolation, request.require_isolation, stderr),
        probe_timeout_s=request.probe_timeout_s,
    )
    recipe = _recipe(course, options.device, request.gate_overrides)
    if request.gate:
        root = Path(request.data_root) if request.data_root else None
        options.data_root = _node_data(root) if on_node else _gate_data(root, stderr)
        options.gate = GateSettings(recipe, _gate_reference(recipe, options, stderr))
    if options.isolation == "process":
        extra = [Path(p) for p in request.paths]
        if request.out is not None:
            Path(request.out).mkdir(mode=0o700, parents=True, exist_ok=True)
            extra.append(Path(request.out))
        extra += _splits(options.data_root or request.data_root)
        policy.protect(REPO_ROOT, [SUITES_DIR, SOLUTIONS_DIR], extra, stderr)
    plan = batch.Plan(
        exercises=request.exercises, options=options, config=course.source, out=request.out
    )
    return batch.grade_all(
        submissions,
        plan,
        jobs=jobs,
        deadline_s=request.deadline_s or course.grading_deadline_s,
        force=force,
        stderr=stderr,
        on_result=on_result,
    )


def grade_on_node(request: Request, submissions: list[Submission], jobs: int) -> batch.Outcome:
    """A Slurm array task's grading: :func:`grade_here` on the node, stored results kept."""
    return grade_here(request, submissions, jobs=jobs, on_node=True)


def _grade_on_slurm(course, request, submissions, settings, jobs, force, detach, stderr, on_result):
    """The submitting side: check here what can be checked, then hand the batch to Slurm."""
    check_device(request.device)
    policy.check_choice(request.isolation)
    _recipe(course, "cuda" if request.device == "cuda" else "cpu", request.gate_overrides)
    if request.gate:  # prepared once here, on the shared file system; each node checks it
        request.data_root = str(_gate_data(request.data_root, stderr).resolve())
    return slurm.grade_on_slurm(
        submissions,
        grade=grade_on_node,
        request=request,
        settings=settings,
        device=request.device,
        exercises=request.exercises,
        out=Path(request.out),
        jobs=jobs,
        force=force,
        detach=detach,
        stderr=stderr,
        on_result=on_result,
    )


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
        return recipes.resolve(
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


def _node_data(data_root: Path | None) -> Path:
    """The prepared CIFAR-10 on a node: checked against its manifest, never prepared there
    (the submitting command prepared it once, on the shared file system)."""
    from grader import data

    root = Path(data_root) if data_root is not None else data.default_root()
    try:
        data.verify(root, level="sha256")
    except (data.DataError, ValueError) as exc:
        raise GraderError(
            f"the CIFAR-10 gate's data at {root} fails its check on this node: {exc}. Prepare "
            "it on the shared file system (grader data prepare --root DIR) and pass --data-root"
        ) from None
    return root


def _splits(data_root) -> list[Path]:
    """The data set's two folders, made owner-only without bubblewrap in every run, one without
    the gate too (their mode stays so for later runs, gated or not): the test split's labels
    are the gate's answers, and the training split is for the gate's own worker alone, whose
    run is timed from the first line of student code that can see it."""
    from grader import data

    return [data.split_dir(data_root, split) for split in ("test", "train")]


def _gate_data(data_root: Path | None, stderr) -> Path:
    from grader import data

    try:
        return Path(data.ensure_prepared(root=data_root))
    except Exception as exc:  # noqa: BLE001 - any failure to get data stops the run clearly
        raise GraderError(
            f"the CIFAR-10 gate needs the data set and it could not be prepared: {exc}. "
            "Run `grader data prepare` (offline: set CIFAR10_SOURCE), or grade with --no-gate"
        ) from None
