"""What each fixture submission must earn: the ``expected.toml`` beside its files.

Every folder of ``tests/fixtures/submissions/`` holds the exercise files it stages
(``tests/fixture_edits.py``, which stages nothing else) and an ``expected.toml`` that the
tests read through :func:`load`. The folder's name says the kind, and the kind the keys::

    # bug_*: one mistake in one function (tests/test_fixture_submissions.py)
    exercise = "ex4"                 # the exercise it is graded on
    function = ["Net.__init__", "Net.forward"]   # where the mistake is (a list: in two,
    why = "a layer made in __init__, used in forward"   # and why; required beside a list)
    default_run = true               # graded by the default run, not only with -m slow
    full_gate = "fails"              # how the full gate ends for it (tests/test_gate.py,
                                     # slow): fails, fails on time, passes; absent: not run
    [fails]                          # each test that must fail = a word its feedback holds
    test_layers_are_the_tutorials = "keep __init__ as given"

    # correct_*: a correct solution written differently, full marks wherever it differs
    description = "ex4 flattens with x.view(x.size(0), -1)"

    # broken_*: a malformed file (tests/test_broken.py)
    exercise = "ex2"                 # the one exercise that loses points
    words = ["SyntaxError"]          # what each failing test's feedback holds, every one
    fails = ["test_chain_rule"]      # the tests that must fail; absent: all of exercise's
    batch = "a"                      # the batch that grades it (BROKEN_BATCHES; default a)

    # hostile_gate_*: training off the gate's clock (tests/test_gate_hostile.py)
    fails_by = "limit"               # stopped by the limit, at chance accuracy, or ended
    feedback = "building your pipeline"   # a word of the gate's feedback (default: none)

    # hostile_*: an attack on the sandbox (tests/test_hostile.py)
    exercise = "ex1"                 # the exercise whose file attacks
    feedback = "MemoryError"         # a word of every failed pointed test's feedback there;
                                     # WRONG_ANSWER; "" where the failures differ in kind
    score = 0                        # what that exercise still earns (default 0): checks the
                                     # attack leaves alone, all of it for an attack on others
    fallback = "MemoryError"         # the same without bubblewrap; absent: not graded so
    shown = "MemoryError"            # a word one failed test's feedback holds (default none)
    [fixture_batch]                  # graded beside the bugs too: 0 for ex1, full marks else
    feedback = "MemoryError"         # a word of every ex1 test's feedback there

A file that names an unknown key, misses a required one or gives one a wrong value, names an
exercise the fixture does not change or a test its suite does not have, is an
:class:`ExpectationError` naming the file.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import fixture_edits

FIXTURES = fixture_edits.FIXTURES
SUITES = fixture_edits.REPO / "grader" / "suites"
EXPECTED = "expected.toml"
EXERCISES = {module.partition("_")[0]: module for module in fixture_edits.MODULES}
WRONG_ANSWER = "<an ordinary wrong answer>"
"""An attack's expected feedback: a plain failure (status ``failed``: not a timeout, a crash
of the worker or a grader error), whatever its words; what a cheat that returns wrong values
earns."""
FULL_GATE = ("fails", "fails on time", "passes")
FAILS_BY = ("limit", "chance", "ended")
BROKEN_BATCHES = {"a": "ex1,ex2,ex3", "b": "ex3,ex4,ex5"}
"""The batches of tests/test_broken.py: name -> the exercises graded in it."""
KINDS = ("bug", "correct", "broken", "hostile_gate", "hostile")
"""The kinds a fixture folder's name starts with (``hostile_gate_`` before ``hostile_``)."""


class ExpectationError(ValueError):
    """An ``expected.toml`` that does not say what the tests need, or says it wrongly."""


@dataclass(frozen=True)
class Bug:
    """``fails`` maps each test that must fail to a word its feedback holds; ``function`` is
    the function the mistake is in (a tuple where one mistake is written in two, ``why``
    says how). Every other pointed test of ``exercise`` must pass."""

    fixture: str
    exercise: str
    fails: dict[str, str] = field(hash=False)
    function: str | tuple[str, ...]
    why: str = ""
    default_run: bool = False
    full_gate: str = ""

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.function,) if isinstance(self.function, str) else tuple(self.function)


@dataclass(frozen=True)
class Correct:
    fixture: str
    description: str


@dataclass(frozen=True)
class Broken:
    """``exercise`` loses points; the tests in ``fails`` (None: all of its tests) fail with
    every word of ``words`` in their feedback; every other graded exercise keeps full marks."""

    fixture: str
    exercise: str
    words: tuple[str, ...]
    fails: tuple[str, ...] | None = None
    batch: str = "a"


@dataclass(frozen=True)
class GateCheat:
    fixture: str
    fails_by: str
    feedback: str = ""


@dataclass(frozen=True)
class Attack:
    """An attack on the sandbox (its keys are described above); ``batch_feedback`` is its
    ``[fixture_batch]`` word, None where it is not graded beside the bugs."""

    fixture: str
    exercise: str
    feedback: str
    score: float = 0
    fallback: str | None = None
    shown: str = ""
    batch_feedback: str | None = None


def _is_string(value) -> bool:
    return isinstance(value, str)


def _is_strings(value) -> bool:
    return isinstance(value, list) and bool(value) and all(map(_is_string, value))


def _is_function(value) -> bool:
    return _is_string(value) or _is_strings(value) and len(value) > 1


def _is_words(value) -> bool:
    return isinstance(value, dict) and all(map(_is_string, value.values()))


def _is_bool(value) -> bool:
    return isinstance(value, bool)


def _is_score(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _is_batch_table(value) -> bool:
    return isinstance(value, dict) and set(value) == {"feedback"} and _is_string(value["feedback"])


def _one_of(choices) -> tuple:
    return (lambda value: value in choices), f"one of {', '.join(map(repr, choices))}"


REQUIRED = object()
STRING = (_is_string, "a string")
SCHEMAS = {
    "bug": {
        "exercise": (STRING, REQUIRED),
        "function": ((_is_function, "a string, or a list of two or more"), REQUIRED),
        "why": (STRING, ""),
        "default_run": ((_is_bool, "true or false"), False),
        "full_gate": (_one_of(FULL_GATE), ""),
        "fails": ((_is_words, "a table of test = word"), REQUIRED),
    },
    "correct": {"description": (STRING, REQUIRED)},
    "broken": {
        "exercise": (STRING, REQUIRED),
        "words": ((_is_strings, "a list of strings"), REQUIRED),
        "fails": ((_is_strings, "a list of test names"), None),
        "batch": (_one_of(tuple(BROKEN_BATCHES)), "a"),
    },
    "hostile_gate": {"fails_by": (_one_of(FAILS_BY), REQUIRED), "feedback": (STRING, "")},
    "hostile": {
        "exercise": (STRING, REQUIRED),
        "feedback": (STRING, REQUIRED),
        "score": ((_is_score, "a number of points"), 0),
        "fallback": (STRING, None),
        "shown": (STRING, ""),
        "fixture_batch": ((_is_batch_table, "a table holding feedback = a string"), None),
    },
}
"""Kind -> key -> ((check, what it must be), default or REQUIRED)."""


def kind_of(name: str) -> str:
    """The kind a fixture folder's name says."""
    for kind in KINDS:
        if name.startswith(kind + "_"):
            return kind
    raise ExpectationError(f"{name}: not a kind of fixture (bug_, correct_, broken_, hostile_)")


def suite_tests(suite: Path) -> dict[str, int | None]:
    """A hidden suite's test functions, read without importing it: name -> the points of its
    ``@pytest.mark.points`` (a number or a module-level constant), None where it has none."""
    tree = ast.parse(suite.read_text(), str(suite))
    constants = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        found[node.name] = None
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "points":
                arg = decorator.args[0] if len(decorator.args) == 1 else None
                value = constants.get(arg.id) if isinstance(arg, ast.Name) else arg
                value = value.value if isinstance(value, ast.Constant) else value
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{suite}: {node.name}'s points are not a number")
                found[node.name] = value
    return found


@cache
def _suite_test_names(exercise: str) -> frozenset[str]:
    return frozenset(suite_tests(SUITES / f"test_{exercise}.py"))


def _values(path: Path, kind: str) -> dict:
    """The file's keys checked against the kind's, the defaults filled in."""
    if not path.is_file():
        raise ExpectationError(f"{path}: missing; every fixture folder says what it earns")
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ExpectationError(f"{path}: not TOML: {error}") from None
    schema = SCHEMAS[kind]
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise ExpectationError(f"{path}: unknown key(s) {unknown} for a {kind}_ fixture")
    for key, ((check, what), default) in schema.items():
        if key not in values:
            if default is REQUIRED:
                raise ExpectationError(f"{path}: missing key {key!r}")
            values[key] = default
        elif not check(values[key]):
            raise ExpectationError(f"{path}: {key} must be {what}, not {values[key]!r}")
    return values


def _check(path: Path, kind: str, values: dict) -> None:
    """What the keys name exists: the exercise among the fixture's files, the tests in its
    suite, the batch grading the exercise, a reason for a mistake in two functions."""
    files = fixture_edits.fixture_files(path.parent.name, path.parent.parent)
    if not files:
        raise ExpectationError(f"{path}: its folder holds no exercise file to stage")
    exercise = values.get("exercise")
    if exercise is None:
        return
    if exercise not in EXERCISES:
        raise ExpectationError(f"{path}: no exercise {exercise!r} (one of {list(EXERCISES)})")
    if EXERCISES[exercise] not in files:
        changed = [key for key, module in EXERCISES.items() if module in files]
        raise ExpectationError(f"{path}: {exercise} is not an exercise it changes ({changed})")
    unknown = sorted(set(values.get("fails") or ()) - _suite_test_names(exercise))
    if unknown:
        raise ExpectationError(f"{path}: {exercise}'s suite has no test {', '.join(unknown)}")
    if kind == "broken" and exercise not in BROKEN_BATCHES[values["batch"]].split(","):
        raise ExpectationError(f"{path}: batch {values['batch']!r} does not grade {exercise}")
    if kind == "bug" and isinstance(values["function"], list) and not values["why"]:
        raise ExpectationError(f"{path}: a mistake in two functions says why (why = ...)")


def read(folder: Path) -> Bug | Correct | Broken | GateCheat | Attack:
    """What the fixture in ``folder`` must earn, from its ``expected.toml``."""
    kind = kind_of(folder.name)
    path = folder / EXPECTED
    values = _values(path, kind)
    _check(path, kind, values)
    name = folder.name
    if kind == "bug":
        function = values.pop("function")
        return Bug(name, function=function if _is_string(function) else tuple(function), **values)
    if kind == "correct":
        return Correct(name, **values)
    if kind == "broken":
        fails = values.pop("fails")
        words = tuple(values.pop("words"))
        return Broken(name, words=words, fails=fails and tuple(fails), **values)
    if kind == "hostile_gate":
        return GateCheat(name, **values)
    batch = values.pop("fixture_batch")
    return Attack(name, batch_feedback=batch and batch["feedback"], **values)


@cache
def load(root: Path = FIXTURES) -> dict[str, Bug | Correct | Broken | GateCheat | Attack]:
    """Fixture name -> what it must earn, for every fixture folder under ``root``."""
    return {folder.name: read(folder) for folder in sorted(root.iterdir()) if folder.is_dir()}


def of(kind: type, root: Path = FIXTURES) -> dict:
    """Fixture name -> expectation for the fixtures of one kind (a class above), by name."""
    return {name: e for name, e in load(root).items() if isinstance(e, kind)}
