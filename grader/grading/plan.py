"""The plan: everything a class is graded with, decided once and handed down as one value.

What ``grader run`` was asked is a :class:`Request`: the command line's values and the
course, read once from its file. :func:`resolve` turns it, on the machine that grades (a
Slurm node resolves its own), into a :class:`Plan`: the device, the isolation, the gate (the
device's recipe with the course's values and ``--gate-set``'s over it, the reference's cost
on this machine, the data), the probe timeout, the grading deadline, each exercise's points
and visibility, and the language students read. Nothing after it decides any of these again:
the plan goes unchanged to the batch's children (as JSON), and into each hidden suite through
pytest's stash.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.course import config as course_config
from grader.course import recipes
from grader.course.config import PROBE_TIMEOUT_S, CourseConfig, Scoring
from grader.course.recipes import GateSettings
from grader.errors import GraderError
from grader.gate import calibration, rules
from grader.i18n import DEFAULT as DEFAULT_LANGUAGE
from grader.kit import REPO_ROOT, SOLUTIONS_DIR, SUITES_DIR
from grader.sandbox import cpus, policy

DEVICE_CHOICES = ("auto", *course_config.DEVICES)


@dataclass
class Request:
    """What ``grader run`` was asked, with the course as read once, before anything is
    resolved on the machine that grades."""

    exercises: list[str]
    course: CourseConfig = field(default_factory=course_config.defaults)
    device: str = "auto"
    isolation: str = "auto"
    require_isolation: bool = False
    gate: bool = True
    gate_overrides: dict = field(default_factory=dict)
    probe_timeout_s: float | None = None
    deadline_s: float | None = None
    data_root: str | None = None
    out: str | None = None
    paths: list[str] = field(default_factory=list)
    language: str = DEFAULT_LANGUAGE
    """What students read is written in: ``--lang``, else the course's ``language``."""


@dataclass(frozen=True)
class Plan:
    """Everything every submission of a run is graded with (see the module's docstring)."""

    exercises: tuple[str, ...]
    scoring: Scoring = field(default_factory=lambda: course_config.defaults().scoring())
    device: str = "cpu"
    isolation: str = "bwrap"
    probe_timeout_s: float = PROBE_TIMEOUT_S
    gate: GateSettings | None = None
    """The accuracy gate's recipe and the reference's cost here; ``None``: no gate."""
    data_root: Path | None = None
    deadline_s: float | None = None
    """Wall seconds the trusted side may spend on one submission (``None``: from the
    exercises' budgets and the gate's limit, :mod:`grader.batch.deadline`)."""
    out: str | None = None
    """Where each result is stored as it is graded."""
    language: str = DEFAULT_LANGUAGE
    """The language of everything the students read (feedback, warnings, notes)."""

    def with_out(self, out: Path) -> Plan:
        return dataclasses.replace(self, out=str(out))

    def to_json(self) -> str:
        data = asdict(self)
        data["data_root"] = str(self.data_root) if self.data_root else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        data["exercises"] = tuple(data["exercises"])
        data["scoring"] = Scoring(**data["scoring"])
        if data["gate"] is not None:
            data["gate"] = GateSettings(**data["gate"])
        if data["data_root"]:
            data["data_root"] = Path(data["data_root"])
        return cls(**data)


def resolve(request: Request, *, on_node: bool = False, stderr=None) -> Plan:
    """The plan for ``request`` on this machine (see the module's docstring); ``on_node``: a
    Slurm node's, whose data the submitting side prepared and which only checks it."""
    stderr = stderr or sys.stderr
    course = request.course
    device = resolve_device(request.device)
    isolation = choose_isolation(request.isolation, request.require_isolation, stderr)
    probe_timeout_s = request.probe_timeout_s or course.devices[device].probe_timeout_s
    recipe = gate_recipe(course, device, request.gate_overrides)  # checked, gate or not
    gate, data_root = None, None
    if request.gate:
        root = Path(request.data_root) if request.data_root else None
        data_root = node_data(root) if on_node else gate_data(root, stderr)
        gate = GateSettings(recipe, gate_reference(recipe, device, isolation, data_root, stderr))
    if isolation == "process":
        extra = [Path(p) for p in request.paths]
        if request.out is not None:
            Path(request.out).mkdir(mode=0o700, parents=True, exist_ok=True)
            extra.append(Path(request.out))
        extra += _splits(data_root or request.data_root)
        policy.protect(REPO_ROOT, [SUITES_DIR, SOLUTIONS_DIR], extra, stderr)
    return Plan(
        exercises=tuple(request.exercises),
        scoring=course.scoring(),
        device=device,
        isolation=isolation,
        probe_timeout_s=probe_timeout_s,
        gate=gate,
        data_root=data_root,
        deadline_s=request.deadline_s or course.grading_deadline_s,
        out=request.out,
        language=request.language,
    )


def check_device(device: str) -> None:
    """Is ``device`` one of the ``--device`` words (checked where it cannot be resolved yet)?"""
    if device not in DEVICE_CHOICES:
        raise GraderError(f"unknown device {device!r}: use {', '.join(DEVICE_CHOICES)}")


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


def gate_recipe(course: CourseConfig, device: str, gate_overrides: dict | None) -> dict:
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


def choose_isolation(requested: str, required: bool, stderr) -> str:
    chosen = policy.choose(requested, required=required)
    if chosen != "bwrap":
        print(
            "warning: reduced isolation: student code runs as a plain process of its own user "
            "with resource limits, without bubblewrap",
            file=stderr,
        )
    return chosen


def gate_reference(recipe: dict, device: str, isolation: str, data_root: Path, stderr) -> dict:
    """The reference's training cost on this machine, measured once and kept with the data
    (``{}`` where the course sets an absolute limit; ``{"error": why}`` where it cannot be
    measured)."""
    if recipe.get("time_limit_s") is not None:
        return {}
    try:
        return measure_reference(recipe, device, isolation, data_root, stderr, reuse=True)
    except calibration.CalibrationError as exc:
        why = f"the gate's time limit is absolute, not relative to this machine: {exc}"
        print(f"warning: {why}", file=stderr)
        return {"error": why}


def measure_reference(
    recipe: dict,
    device: str,
    isolation: str,
    data_root: Path,
    stderr,
    *,
    reuse: bool = False,
    repeats: int = 1,
) -> dict:
    """The reference's gate training measured here, on the cores a gate holds (``reuse``: the
    measurement kept with the data for this machine, where there is one); raises
    :class:`~grader.gate.calibration.CalibrationError`."""
    with cpus.Slots().hold(rules.cores(recipe, device)) as cores:
        if reuse:
            description = calibration.machine(device, recipe, len(cores), isolation)
            stored = calibration.lookup(data_root, description)
            if stored is not None:
                return stored
        return calibration.measure(
            data_root,
            device=device,
            recipe=recipe,
            isolation=isolation,
            cores=cores,
            repeats=repeats,
            progress=lambda text: print(text, file=stderr, flush=True),
        )


def node_data(data_root: Path | None) -> Path:
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


def gate_data(data_root: Path | None, stderr) -> Path:
    from grader import data

    try:
        return Path(data.ensure_prepared(root=data_root))
    except Exception as exc:  # noqa: BLE001 - any failure to get data stops the run clearly
        raise GraderError(
            f"the CIFAR-10 gate needs the data set and it could not be prepared: {exc}. "
            "Run `grader data prepare` (offline: set CIFAR10_SOURCE), or grade with --no-gate"
        ) from None
