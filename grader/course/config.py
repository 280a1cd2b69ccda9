"""The values a course may set (points, visibility, the gate's limits) and their defaults.

A course sets them in ``[tool.grader]`` of a pyproject or in a ``grader.toml``; what the kit
fixes whatever the course (folders, exercises) is :mod:`grader.kit`. Every default is here:
:func:`defaults` (the SPEC's points from :mod:`grader.kit`, the gate's threshold and time
factor from its calibrated recipes in :mod:`grader.course.recipes`) and the constants below; a file
only replaces what it names. The shape::

    [tool.grader]                       # in grader.toml the same keys sit at the top level
    language = "zh_CN"                  # what students read: en or zh_CN (default: en;
                                        # grader check: the student's locale)
    visibility = "public"               # every test's default: public, hidden, after_due_date
    grading_deadline_s = 3600           # wall seconds for one submission's grading (default:
                                        # from the exercises' budgets and the gate's limit)
    [tool.grader.exercises.ex5]
    points = 30                         # the exercise's total; its tests' points are scaled
    visibility = "after_due_date"
    [tool.grader.tests.test_accuracy_gate]
    visibility = "hidden"
    [tool.grader.devices.cpu]
    threshold = 0.56                    # the gate's minimum test accuracy on this device
    time_factor = 2.5                   # training may cost this many times the reference's
    time_limit_s = 300                  # instead: absolute wall seconds (not set by default)
    probe_timeout_s = 30                # one call into student code
    [tool.grader.similarity]            # grader similarity (copydetect's winnowing)
    threshold = 0.6                     # a pair at or above this score is reported
    exercise_threshold = 0.8            # or one whose files of one exercise match this much
    exercise_min_tokens = 150           # with this much code on both sides (filtered chars)
    noise_threshold = 25                # shortest match counted (filtered characters, k)
    guarantee_threshold = 25            # a match this long is always found (window = g - k + 1)
    report_pairs = 50                   # pairs shown side by side in the HTML report
    [tool.grader.gradebook]             # grader gradebook: the late policy (docs/gradebook.md)
    timezone = "America/New_York"
    due = 2026-03-06T23:59:00           # local time in timezone, or with an offset
    [tool.grader.slurm]                 # grader run --executor slurm: one array task's share
    partition = "gpu"                   # sbatch --partition (default: the cluster's)
    account = "cs101"                   # sbatch --account (default: the user's)
    time_per_task_min = 60              # sbatch --time of each array task
    cpus_per_task = 2                   # sbatch --cpus-per-task
    mem_per_task_gb = 8                 # sbatch --mem
    gpus_per_task = 1                   # sbatch --gres=gpu:N (default: 1 for --device cuda)
    array_parallelism = 32              # tasks running at once (sbatch --array=...%N)
    submissions_per_task = 4            # a task grades this many, --jobs of them at a time
    setup = ["module load python"]      # shell lines each task runs first

A key or value that is not understood is an error that names the key and the file.
Precedence: a command-line flag, then the file, then the defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from grader.errors import CourseConfigError
from grader.i18n import LANGUAGES
from grader.kit import EXERCISES
from grader.results.model import VISIBILITIES

DEVICES = ("cpu", "cuda")
CONFIG_NAMES = ("grader.toml", "pyproject.toml")
TOP_LEVEL_KEYS = (
    "language",
    "visibility",
    "grading_deadline_s",
    "exercises",
    "tests",
    "devices",
    "similarity",
    "gradebook",
    "slurm",
)

MAX_CONFIG_BYTES = 1024 * 1024
"""A course configuration (or the pyproject that holds it) is read only up to this size."""
PROBE_TIMEOUT_S = 30.0
"""Time limit of one probe call (the gate's training has its own)."""

FALLBACK_TIME_LIMIT_S = {"cpu": 900.0, "cuda": 180.0}
"""The gate's absolute wall seconds per device where the reference's cost could not be
measured on the grading machine (and no ``time_limit_s`` is set)."""


@dataclass(frozen=True)
class DeviceLimits:
    threshold: float
    time_factor: float
    probe_timeout_s: float
    time_limit_s: float | None = None
    """Absolute wall seconds for the gate's training, replacing ``time_factor`` when set."""


@dataclass(frozen=True)
class SimilaritySettings:
    """``grader similarity``: when a pair is reported and how code is fingerprinted.

    Lengths count characters of copydetect's filtered code (every name becomes one letter,
    comments and blank space vanish), so 25 is a few statements, not 25 characters of text.
    """

    threshold: float = 0.6
    """A pair whose similarity score reaches this is reported (0-1)."""
    exercise_threshold: float = 0.8
    """A pair is also reported when the files of any one exercise score this much (0-1),
    however the rest compares: a copy of one exercise in otherwise independent work."""
    exercise_min_tokens: int = 150
    """... where both files hold at least this much code once the stubs are left out
    (characters of filtered code): less is what independent solutions share anyway (ex4's
    ``forward``, the tutorial's, is about 105 and independent ones match at 0.85)."""
    noise_threshold: int = 25
    """Matches shorter than this are noise (copydetect's ``noise_t``, the k of k-grams)."""
    guarantee_threshold: int = 25
    """Matches at least this long are always found (``guarantee_t``; winnowing window
    ``guarantee_threshold - noise_threshold + 1``). Equal to ``noise_threshold`` every k-gram
    is kept and scores are exact; above it, winnowing keeps fewer (faster), chosen by hash
    value, and Python draws new string hashes in every process, so scores then vary a
    little from run to run."""
    report_pairs: int = 50
    """How many of the reported pairs the HTML report shows side by side (all are listed)."""


@dataclass(frozen=True)
class SlurmSettings:
    """``grader run --executor slurm``: what each array task asks Slurm for, and its share."""

    partition: str | None = None
    account: str | None = None
    time_per_task_min: int = 60
    """sbatch --time: a task that runs over is stopped and loses only what it had not written."""
    cpus_per_task: int = 2
    mem_per_task_gb: float = 8.0
    gpus_per_task: int | None = None
    """sbatch --gres=gpu:N; ``None``: 1 with ``--device cuda``, else none."""
    array_parallelism: int = 32
    """At most this many tasks of the array run at once (``--array=0-N%P``)."""
    submissions_per_task: int = 4
    setup: tuple[str, ...] = ()
    """Shell lines each task runs before the grader (``module load ...``)."""


@dataclass(frozen=True)
class Scoring:
    """Each exercise's points (the suite's are scaled to them) and each test's visibility."""

    points: dict[str, float]
    visibility: str = "public"
    exercise_visibility: dict[str, str] = field(default_factory=dict)
    test_visibility: dict[str, str] = field(default_factory=dict)

    def visibility_of(self, exercise: str, test: str) -> str:
        """A test's own setting, else its exercise's, else the course default."""
        return self.test_visibility.get(
            test, self.exercise_visibility.get(exercise, self.visibility)
        )


@dataclass(frozen=True)
class CourseConfig:
    points: dict[str, float]
    """Exercise key -> its total; the suite's test points are scaled to it."""
    visibility: str = "public"
    exercise_visibility: dict[str, str] = field(default_factory=dict)
    test_visibility: dict[str, str] = field(default_factory=dict)
    devices: dict[str, DeviceLimits] = field(default_factory=dict)
    similarity: SimilaritySettings = field(default_factory=SimilaritySettings)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    grading_deadline_s: float | None = None
    """Wall seconds the trusted side may spend on one submission (``None``: from the
    exercises' budgets and the gate's limit, :mod:`grader.batch.deadline`)."""
    source: str | None = None
    """The file it was read from (``None``: the defaults)."""
    language: str | None = None
    """The language of everything students read (``grader.i18n.LANGUAGES``); ``None``: not
    chosen, so English (``grader check`` follows the student's locale then)."""

    def scoring(self) -> Scoring:
        """What grading takes of the course: the points and the visibilities."""
        return Scoring(
            dict(self.points),
            self.visibility,
            dict(self.exercise_visibility),
            dict(self.test_visibility),
        )

    def visibility_of(self, exercise: str, test: str) -> str:
        return self.scoring().visibility_of(exercise, test)

    def gate_overrides(self, device: str) -> dict:
        """The gate recipe fields this configuration sets for ``device``."""
        limits = self.devices[device]
        overrides = {"threshold": limits.threshold, "time_factor": limits.time_factor}
        if limits.time_limit_s is not None:
            overrides["time_limit_s"] = limits.time_limit_s
        return overrides


def defaults() -> CourseConfig:
    """The course as SPEC defines it: SPEC's points, everything public, the calibrated gate."""
    from grader.course.recipes import RECIPES

    return CourseConfig(
        points={key: e.points for key, e in EXERCISES.items()},
        devices={
            device: DeviceLimits(
                threshold=float(RECIPES[device]["threshold"]),
                time_factor=float(RECIPES[device]["time_factor"]),
                probe_timeout_s=PROBE_TIMEOUT_S,
                time_limit_s=RECIPES[device]["time_limit_s"],
            )
            for device in DEVICES
        },
    )


def find(start: Path | None = None) -> Path | None:
    """``grader.toml``, else a ``pyproject.toml`` with ``[tool.grader]``, in ``start``."""
    folder = Path(start or Path.cwd())
    for name in CONFIG_NAMES:
        path = folder / name
        if path.is_file() and (name == "grader.toml" or "grader" in _read(path).get("tool", {})):
            return path
    return None


def load(path: Path | None = None, *, search: Path | None = None) -> CourseConfig:
    """Read ``path`` (or the file :func:`find` finds), on top of :func:`defaults`."""
    found = course_table(path, search)
    if found is None:
        return defaults()
    data, source, prefix = found
    return _parse(data, source=source, prefix=prefix)


def load_similarity(path: Path | None = None, *, search: Path | None = None) -> SimilaritySettings:
    """Only the ``similarity`` table of the file :func:`load` reads (``grader
    similarity`` needs nothing else of the course).
    """
    found = course_table(path, search)
    if found is None:
        return SimilaritySettings()
    data, source, prefix = found
    read = _Reader(source, prefix)
    read.table(data, "", TOP_LEVEL_KEYS)
    return _similarity(data.get("similarity", {}), read)


def course_table(path: Path | None, search: Path | None) -> tuple[dict, str, str] | None:
    """The course's table of ``path`` (or of the file :func:`find` finds), the file's name
    and the prefix of its keys; ``None`` where there is no file."""
    path = Path(path) if path is not None else find(search)
    if path is None:
        return None
    if not path.is_file():
        raise CourseConfigError(f"course configuration {path} does not exist")
    data = _read(path)
    prefix = ""
    if isinstance(data.get("tool"), dict) and "grader" in data["tool"]:
        data, prefix = data["tool"]["grader"], "tool.grader."
    elif path.name == "pyproject.toml":
        data = {}  # a pyproject without [tool.grader]: the defaults
    return data, str(path), prefix


def _read(path: Path) -> dict:
    with path.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise CourseConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CourseConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise CourseConfigError(f"{path} is not valid TOML: nested too deeply") from None


class _Reader:
    """Checks keys and values, naming ``key`` and the file in every error."""

    def __init__(self, source: str, prefix: str):
        self.source = source
        self.prefix = prefix

    def fail(self, key: str, problem: str):
        raise CourseConfigError(f"{self.source}: {self.prefix}{key}: {problem}")

    def table(self, data, key: str, allowed) -> dict:
        if not isinstance(data, dict):
            self.fail(key, f"expected a table, got {data!r}")
        for name in data:
            if name not in allowed:
                self.fail(f"{key}.{name}".lstrip("."), f"unknown key; known: {', '.join(allowed)}")
        return data

    def number(self, value, key: str, *, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.fail(key, f"expected a number >= {minimum:g}, got {value!r}")
        return value

    def visibility(self, value, key: str) -> str:
        if value not in VISIBILITIES:
            self.fail(key, f"expected one of {', '.join(VISIBILITIES)}, got {value!r}")
        return value


def _parse(data: dict, *, source: str, prefix: str) -> CourseConfig:
    base = defaults()
    read = _Reader(source, prefix)
    read.table(data, "", TOP_LEVEL_KEYS)
    visibility = read.visibility(data.get("visibility", base.visibility), "visibility")
    language = data.get("language")
    if language is not None and language not in LANGUAGES:
        read.fail("language", f"expected one of {', '.join(LANGUAGES)}, got {language!r}")
    deadline = data.get("grading_deadline_s")
    if deadline is not None:
        deadline = read.number(deadline, "grading_deadline_s", minimum=1)
    points = dict(base.points)
    exercise_visibility = {}
    for key, table in read.table(data.get("exercises", {}), "exercises", EXERCISES).items():
        read.table(table, f"exercises.{key}", ("points", "visibility"))
        if "points" in table:
            points[key] = read.number(table["points"], f"exercises.{key}.points")
        if "visibility" in table:
            exercise_visibility[key] = read.visibility(
                table["visibility"], f"exercises.{key}.visibility"
            )
    test_visibility = {}
    tests = data.get("tests", {})
    for name, table in read.table(tests, "tests", tests if isinstance(tests, dict) else ()).items():
        read.table(table, f"tests.{name}", ("visibility",))
        test_visibility[name] = read.visibility(table.get("visibility"), f"tests.{name}.visibility")
    devices = dict(base.devices)
    names = [f.name for f in fields(DeviceLimits)]
    for device, table in read.table(data.get("devices", {}), "devices", DEVICES).items():
        read.table(table, f"devices.{device}", names)
        values = asdict(devices[device])
        for name in names:
            if name in table:
                values[name] = read.number(table[name], f"devices.{device}.{name}")
        if values["threshold"] > 1:
            read.fail(f"devices.{device}.threshold", "an accuracy between 0 and 1")
        if values["time_factor"] < 1:
            read.fail(f"devices.{device}.time_factor", "at least 1 (the reference's own cost)")
        devices[device] = DeviceLimits(**values)
    return CourseConfig(
        points=points,
        visibility=visibility,
        exercise_visibility=exercise_visibility,
        test_visibility=test_visibility,
        devices=devices,
        similarity=_similarity(data.get("similarity", {}), read),
        slurm=slurm_settings(data.get("slurm", {}), read=read),
        grading_deadline_s=deadline,
        source=source,
        language=language,
    )


def _similarity(table, read: _Reader) -> SimilaritySettings:
    names = [f.name for f in fields(SimilaritySettings)]
    scores = ("threshold", "exercise_threshold")
    read.table(table, "similarity", names)
    values = asdict(SimilaritySettings())
    for name in names:
        if name not in table:
            continue
        value = read.number(table[name], f"similarity.{name}", minimum=0 if name in scores else 1)
        if name not in scores and value != int(value):
            read.fail(f"similarity.{name}", f"expected a whole number, got {value!r}")
        values[name] = value if name in scores else int(value)
    for name in scores:
        if values[name] > 1:
            read.fail(f"similarity.{name}", "a score between 0 and 1")
    if values["guarantee_threshold"] < values["noise_threshold"]:
        read.fail("similarity.guarantee_threshold", "at least noise_threshold")
    return SimilaritySettings(**values)


def slurm_settings(
    table, base: SlurmSettings | None = None, *, read: _Reader | None = None
) -> SlurmSettings:
    """``base`` (default: the defaults) with the keys of a ``slurm`` table, each checked; the
    command line's ``--slurm-set`` pairs come through here too (``read`` names their source)."""
    read = read or _Reader("--slurm-set", "")
    names = [f.name for f in fields(SlurmSettings)]
    read.table(table, "slurm", names)
    values = asdict(base or SlurmSettings())
    for name, value in table.items():
        key = f"slurm.{name}"
        if name in ("partition", "account"):
            if not isinstance(value, str) or not value.strip():
                read.fail(key, f"expected a name, got {value!r}")
        elif name == "setup":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                read.fail(key, f"expected a list of shell lines, got {value!r}")
            value = tuple(value)
        elif name == "mem_per_task_gb":
            value = float(read.number(value, key, minimum=0.1))
        else:
            value = read.number(value, key, minimum=0 if name == "gpus_per_task" else 1)
            if value != int(value):
                read.fail(key, f"expected a whole number, got {value!r}")
            value = int(value)
        values[name] = value
    return SlurmSettings(**values)


def parse_slurm_pairs(pairs: list[str] | None) -> dict:
    """``["partition=gpu", "cpus_per_task=4"]`` -> a ``slurm`` table (numbers typed; a
    ``setup`` pair is one shell line), checked by :func:`slurm_settings`."""
    table: dict = {}
    for pair in pairs or []:
        key, sep, text = (part.strip() for part in pair.partition("="))
        if not sep or not key:
            raise CourseConfigError(f"--slurm-set takes KEY=VALUE, got {pair!r}")
        value: object = text
        for kind in () if key in ("partition", "account") else (int, float):
            try:
                value = kind(text)
                break
            except ValueError:
                continue
        table[key] = [*table.get(key, []), text] if key == "setup" else value
    return table
