"""The ``grader`` command line: parses arguments and forwards to one function each.

Every option is declared once (:data:`SHARED` for those several commands take), with one
help text, and its default is the called function's own: an option not given is not passed
on, so the function's default holds, and the help shows it.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.run import EXECUTORS, calibrate, run
from grader.course.recipes import parse_overrides
from grader.export import TARGETS
from grader.gradebook import FORMATS as GRADEBOOK_FORMATS
from grader.gradebook import MISSING, MOODLE_KEYS, SOURCES, gradebook
from grader.grading.plan import DEVICE_CHOICES
from grader.i18n import LANGUAGES
from grader.results.formats import FORMATS
from grader.results.report import report
from grader.sandbox.policy import CHOICES as ISOLATIONS
from grader.similarity import similarity


class GateSet(argparse.Action):
    """``--gate-set KEY=VALUE``, repeatable, typed as the recipe's field: into one dict."""

    def __call__(self, parser, namespace, value, option_string=None):
        try:
            typed = parse_overrides([value])
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, {**getattr(namespace, self.dest, {}), **typed})


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    settings: dict = field(default_factory=dict)


SHARED = {
    "config": Option(
        ("--config",),
        "course configuration (default: ./grader.toml, else [tool.grader] of ./pyproject.toml, "
        "else the built-in defaults)",
        {"type": Path, "metavar": "FILE"},
    ),
    "device": Option(
        ("--device",),
        "where the gate trains: cpu, cuda, or auto (cuda where this machine has a GPU)",
        {"choices": DEVICE_CHOICES},
    ),
    "isolation": Option(
        ("--isolation",),
        "auto/bwrap: bubblewrap, or refuse; process: reduced isolation, chosen explicitly "
        "(root only: student code as a user of its own); strongest: bubblewrap where it "
        "starts, else process",
        {"choices": ISOLATIONS},
    ),
    "data_root": Option(
        ("--data-root",),
        "prepared CIFAR-10 folder (default: datasets/cifar10)",
        {"type": Path, "metavar": "DIR"},
    ),
    "gate_overrides": Option(
        ("--gate-set",),
        "replace a field of the gate recipe, e.g. epochs=1 (repeatable)",
        {"action": GateSet, "metavar": "KEY=VALUE"},
    ),
    "exercises": Option(("--exercises",), "comma-separated, e.g. ex1,ex3 (default: all)"),
    "results": Option((), "the folder grader run --out wrote", {"type": Path}),
    "language": Option(
        ("--lang",),
        "the language of everything students read: feedback, stubs, grader check "
        "(default: the course configuration's language, else English; grader check: else "
        "the student's locale)",
        {"choices": LANGUAGES},
    ),
}
"""The options several commands take, each declared here once."""


class Command:
    """One subcommand: its parser, and the function it forwards to, whose parameters name
    the options and give their defaults."""

    def __init__(self, commands, name: str, func, help: str, forward=None):
        self.func = func
        self.signature = inspect.signature(func)
        self.parser = commands.add_parser(name, help=help, argument_default=argparse.SUPPRESS)
        self.parser.set_defaults(handler=forward or self.forward)

    def default(self, name: str):
        parameter = self.signature.parameters.get(name)
        return None if parameter is None else parameter.default

    def shared(self, *names: str) -> None:
        for name in names:
            self.option(name, *SHARED[name].flags, help=SHARED[name].help, **SHARED[name].settings)

    def option(self, name: str, *flags: str, help: str, **settings) -> None:
        """An option (or, without flags, a positional) whose value goes to ``name``."""
        default = self.default(name)
        hidden = (None, False, True, (), inspect.Parameter.empty)
        shown = not any(default is value for value in hidden)
        if shown and "default" not in help:
            help = f"{help} (default: {default})"
        if flags:
            self.parser.add_argument(*flags, dest=name, help=help, **settings)
            return
        if settings.get("nargs") in ("?", "*") and "default" not in settings:
            # A positional that may be left out takes argparse's default as its value (the
            # suppress marker itself, as a string): it gets the function's own instead.
            settings["default"] = None if default is inspect.Parameter.empty else default
        self.parser.add_argument(name, help=help, **settings)

    def forward(self, args: argparse.Namespace) -> int:
        outcome = call(self.func, args)
        return outcome if isinstance(outcome, int) and not isinstance(outcome, bool) else 0


def call(func, args: argparse.Namespace):
    """``func`` with the parsed values its parameters name (those not given left out)."""
    parameters = inspect.signature(func).parameters
    return func(**{k: v for k, v in vars(args).items() if k in parameters})


def _run(args) -> int:
    from grader.errors import GraderError

    out = getattr(args, "out", None)
    if getattr(args, "similarity", False) and (getattr(args, "reference", False) or out is None):
        raise GraderError("--similarity needs a class to compare and --out for its report")
    results = call(run, args)
    if getattr(args, "similarity", False):
        similarity(
            args.paths,
            out=out / "similarity",
            config=getattr(args, "config", None),
            exercises=getattr(args, "exercises", None),
        )
    if out is not None and results and not getattr(args, "no_report", False):
        report(out)
    return 0


def _release(args) -> int:
    from grader.course.release import release

    given = {k: v for k, v in vars(args).items() if k in inspect.signature(release).parameters}
    written = release(**given)
    folder = f"{getattr(args, 'target', 'exercises')}/"
    print(f"{folder}: {len(written)} file(s) written" if written else f"{folder} is up to date")
    return 0


def _data(args) -> int:
    from grader import data
    from grader.errors import GraderError

    try:
        data.command(
            args.action, source=getattr(args, "source", None), root=getattr(args, "root", None)
        )
    except data.DataError as exc:
        raise GraderError(str(exc)) from None
    return 0


def _export(args) -> int:
    from grader.export import NEXT_STEPS, export

    path = export(args.target, args.dest, config=getattr(args, "config", None))
    print(f"{args.target}: written to {path}")
    if NEXT_STEPS[args.target]:
        print(f"next: {NEXT_STEPS[args.target]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from grader import data
    from grader.course.release import release
    from grader.export import export
    from grader.submissions.check import check

    parser = argparse.ArgumentParser(prog="grader", description=__doc__, allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = Command(commands, "run", run, "grade submissions", forward=_run)
    grade.option(
        "paths",
        nargs="*",
        type=Path,
        default=[],
        help="a submission (folder, zip, files) or a folder of submissions",
    )
    grade.option(
        "reference", "--reference", action="store_true", help="grade solutions/ (must score 100)"
    )
    grade.shared("device", "exercises")
    grade.option(
        "gate",
        "--no-gate",
        action="store_false",
        help="leave out the CIFAR-10 accuracy gate (its points are not graded)",
    )
    grade.option("fmt", "--format", choices=FORMATS, help="how the results are printed")
    grade.option(
        "out",
        "--out",
        type=Path,
        metavar="DIR",
        help="write <submission>.json as each one finishes (a rerun skips those) and "
        "feedback/<submission>.html",
    )
    grade.option(
        "jobs",
        "--jobs",
        type=int,
        metavar="N",
        help="grade this many submissions at once, each in its own process",
    )
    grade.option(
        "force", "--force", action="store_true", help="regrade submissions already graded in --out"
    )
    grade.shared("config")
    grade.option(
        "require_isolation",
        "--require-isolation",
        action="store_true",
        help="refuse to grade when bubblewrap is not available",
    )
    grade.shared("isolation", "data_root", "gate_overrides", "language")
    grade.option(
        "probe_timeout_s",
        "--probe-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds one call into student code may take (default: the course "
        "configuration's probe_timeout_s)",
    )
    grade.option(
        "deadline_s",
        "--deadline",
        type=float,
        metavar="SECONDS",
        help="wall seconds the grader may spend on one submission before it stops that "
        "submission's grading and goes on with the class (default: the course "
        "configuration's grading_deadline_s, else the exercises' budgets and the gate's limit "
        "with a margin)",
    )
    grade.option(
        "executor",
        "--executor",
        choices=EXECUTORS,
        help="local: grade on this machine (--jobs at a time); slurm: submit the submissions "
        "--out does not hold yet as a Slurm job array (submitit), each task grading "
        "submissions_per_task of them --jobs at a time, and follow it",
    )
    grade.option(
        "detach",
        "--detach",
        action="store_true",
        help="with --executor slurm: submit and return; a later `grader run ... --out DIR` "
        "follows the array and reports",
    )
    grade.option(
        "slurm_set",
        "--slurm-set",
        action="append",
        metavar="KEY=VALUE",
        help="replace a key of the course configuration's slurm table for this run, e.g. "
        "partition=gpu, account=cs101, time_per_task_min=30, cpus_per_task=4, "
        "mem_per_task_gb=16, gpus_per_task=1, array_parallelism=20, submissions_per_task=2, "
        "setup='module load cuda' (repeatable)",
    )
    grade.option(
        "similarity",
        "--similarity",
        action="store_true",
        help="also write a code-similarity report of the class to OUT/similarity "
        "(as grader similarity; scores are not changed)",
    )
    grade.option(
        "no_report",
        "--no-report",
        action="store_true",
        help="with --out: do not write the class report to OUT/report (grader report)",
    )

    staff = Command(
        commands,
        "report",
        report,
        "the class report for staff: scores, what the class got wrong, test quality, "
        "the gate, warnings, similarity (offline HTML, JSON and CSV; changes no result)",
    )
    staff.shared("results")
    staff.option(
        "dest",
        "--dest",
        type=Path,
        metavar="DIR",
        help="where index.html, report.json and tests.csv go (default: RESULTS/report)",
    )
    staff.option(
        "similarity",
        "--similarity",
        type=Path,
        metavar="DIR",
        help="the folder of a similarity report to summarise (default: RESULTS/similarity, "
        "where there is one)",
    )

    similar = Command(
        commands,
        "similarity",
        similarity,
        "which pairs of a class handed in the same code (offline; changes no score)",
    )
    similar.option(
        "paths", nargs="+", type=Path, help="a folder of submissions (as grader run takes)"
    )
    similar.option(
        "out",
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for similarity.html and similarity.json",
    )
    similar.option(
        "against",
        "--against",
        action="append",
        type=Path,
        metavar="DIR",
        help="a reference folder (an earlier term, known solutions): compared with the class, "
        "not with the other reference folders (repeatable)",
    )
    similar.shared("exercises", "config")
    similar.option(
        "jobs",
        "--jobs",
        type=int,
        metavar="N",
        help="processes that compare (default: one per core)",
    )

    measure = Command(
        commands,
        "calibrate",
        calibrate,
        "measure what the reference's gate training costs on this machine (the basis of "
        "the gate's time limit; done once automatically when missing)",
    )
    measure.shared("device")
    measure.option("repeats", "--repeats", type=int, metavar="N", help="runs; the median is kept")
    measure.shared("config", "isolation", "data_root", "gate_overrides")

    public = Command(commands, "check", check, "run the public tests on your exercises (CPU)")
    public.option(
        "path",
        nargs="?",
        type=Path,
        help="folder with your exercise files (default: exercises/)",
    )
    public.shared("language")

    stubs = Command(
        commands, "release", release, "regenerate exercises/ from solutions/", forward=_release
    )
    stubs.option(
        "target",
        "--dest",
        type=Path,
        metavar="DIR",
        help="where the student version goes (default: exercises/)",
    )
    stubs.shared("language")

    cifar = Command(commands, "data", data.command, "get and prepare CIFAR-10", forward=_data)
    cifar.option("action", choices=("fetch", "import", "prepare"), help="what to do")
    cifar.option(
        "source",
        nargs="?",
        type=Path,
        help="for import/prepare: a cifar-10-batches-py folder, image-folder tree "
        "or tarball (default: $CIFAR10_SOURCE or the shared tarball)",
    )
    cifar.option(
        "root",
        "--root",
        type=Path,
        metavar="DIR",
        help="where the prepared arrays go (default: datasets/cifar10)",
    )

    ship = Command(
        commands,
        "export",
        export,
        "an nbgrader course, a Gradescope autograder zip or a GitHub workflow",
        forward=_export,
    )
    ship.option("target", choices=TARGETS, help="the platform")
    ship.option("dest", type=Path, help="the folder to write into")
    ship.option(
        "config", "--config", type=Path, metavar="FILE", help="course configuration to ship"
    )

    book = Command(
        commands,
        "gradebook",
        gradebook,
        "stored results to a Canvas, Moodle or CSV gradebook, the course's late policy, "
        "extensions and overrides applied (the results are not changed)",
    )
    book.shared("results")
    book.option(
        "fmt",
        "--format",
        choices=GRADEBOOK_FORMATS,
        help="canvas: Canvas's grade import; moodle: Moodle's; csv: every student with each "
        "step to the final score",
    )
    book.option(
        "roster",
        "--roster",
        type=Path,
        required=True,
        metavar="CSV",
        help="the class list (CSV), e.g. Canvas's gradebook export or Moodle's participants",
    )
    book.option(
        "roster_id",
        "--roster-id",
        help="the roster column that holds submission names (default: gradebook.roster_id, "
        "else the first of SIS Login ID, ID number, Email address, id)",
    )
    book.option(
        "times",
        "--times",
        choices=SOURCES,
        help="where submission times come from (mtime only when nothing records them)",
    )
    book.option(
        "times_from",
        "--from",
        type=Path,
        metavar="PATH",
        help="for --times: the submissions folder, nbgrader's submitted/ folder, or the CSV",
    )
    book.option(
        "extensions",
        "--extensions",
        type=Path,
        help="per-student extensions, CSV or TOML (default: the "
        "course configuration's gradebook.extensions)",
    )
    book.option(
        "overrides",
        "--overrides",
        type=Path,
        help="score overrides with reason and author, CSV or TOML (default: gradebook.overrides)",
    )
    book.option(
        "missing",
        "--missing",
        choices=MISSING,
        help="a roster student without a submission (default: gradebook.missing, else zero)",
    )
    book.option(
        "moodle_key",
        "--moodle-key",
        choices=tuple(MOODLE_KEYS),
        help="the column Moodle matches students by",
    )
    book.option(
        "dest",
        "--dest",
        type=Path,
        metavar="DIR",
        help="where the gradebook and audit.json go (default: RESULTS/gradebook)",
    )
    book.shared("config")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return exc.code
    from grader.errors import GraderError

    try:
        return args.handler(args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
