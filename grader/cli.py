"""The ``grader`` command line: parses arguments and forwards to one function each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.course.config import PROBE_TIMEOUT_S
from grader.export import TARGETS
from grader.gradebook import FORMATS as GRADEBOOK_FORMATS
from grader.gradebook import MISSING, MOODLE_KEYS, SOURCES
from grader.results.formats import FORMATS


def _gate_overrides(args) -> dict:
    """``--gate-set KEY=VALUE`` pairs, typed; a bad one is the command's error."""
    from grader.course.recipes import parse_overrides
    from grader.errors import GraderError

    try:
        return parse_overrides(args.gate_set)
    except ValueError as exc:
        raise GraderError(str(exc)) from None


def _run(args) -> int:
    from grader.batch.run import run
    from grader.errors import GraderError

    if args.similarity and (args.reference or args.out is None):
        raise GraderError("--similarity needs a class to compare and --out for its report")
    results = run(
        args.paths,
        reference=args.reference,
        device=args.device,
        exercises=args.exercises,
        gate=not args.no_gate,
        fmt=args.format,
        out=args.out,
        jobs=args.jobs,
        force=args.force,
        config=args.config,
        require_isolation=args.require_isolation,
        isolation=args.isolation,
        data_root=args.data_root,
        gate_overrides=_gate_overrides(args),
        probe_timeout_s=args.probe_timeout,
        deadline_s=args.deadline,
        executor=args.executor,
        detach=args.detach,
        slurm_set=args.slurm_set,
    )
    if args.similarity:
        from grader.similarity import similarity

        similarity(
            args.paths, out=args.out / "similarity", config=args.config, exercises=args.exercises
        )
    if args.out is not None and results and not args.no_report:
        from grader.results.report import report

        report(args.out)
    return 0


def _report(args) -> int:
    from grader.results.report import report

    report(args.results, dest=args.dest, similarity=args.similarity)
    return 0


def _similarity(args) -> int:
    from grader.similarity import similarity

    similarity(
        args.paths,
        out=args.out,
        against=args.against or [],
        config=args.config,
        exercises=args.exercises,
        jobs=args.jobs,
    )
    return 0


def _calibrate(args) -> int:
    from grader.batch.run import calibrate

    calibrate(
        device=args.device,
        config=args.config,
        isolation=args.isolation,
        data_root=args.data_root,
        gate_overrides=_gate_overrides(args),
        repeats=args.repeats,
    )
    return 0


def _check(args) -> int:
    from grader.submissions.check import check

    return check(args.path)


def _release(args) -> int:
    from grader.course.release import release

    written = release()
    print(f"exercises/: {len(written)} file(s) written" if written else "exercises/ is up to date")
    return 0


def _data(args) -> int:
    from grader import data
    from grader.errors import GraderError

    try:
        data.command(args.action, source=args.source, root=args.root)
    except data.DataError as exc:
        raise GraderError(str(exc)) from None
    return 0


def _export(args) -> int:
    from grader.export import NEXT_STEPS, export

    path = export(args.target, args.dest, config=args.config)
    print(f"{args.target}: written to {path}")
    if NEXT_STEPS[args.target]:
        print(f"next: {NEXT_STEPS[args.target]}")
    return 0


def _gradebook(args) -> int:
    from grader.gradebook import gradebook

    gradebook(
        args.results,
        fmt=args.format,
        roster=args.roster,
        dest=args.dest,
        times=args.times,
        times_from=args.times_from,
        extensions=args.extensions,
        overrides=args.overrides,
        config=args.config,
        roster_id=args.roster_id,
        missing=args.missing,
        moodle_key=args.moodle_key,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="grade submissions")
    run.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="a submission (folder, zip, files) or a folder of submissions",
    )
    run.add_argument("--reference", action="store_true", help="grade solutions/ (must score 100)")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    run.add_argument("--exercises", help="comma-separated, e.g. ex1,ex3 (default: all)")
    run.add_argument(
        "--no-gate",
        action="store_true",
        help="leave out the CIFAR-10 accuracy gate (its points are not graded)",
    )
    run.add_argument("--format", default="table", choices=FORMATS)
    run.add_argument(
        "--out",
        type=Path,
        help="write <submission>.json as each one finishes (a rerun skips those) and "
        "feedback/<submission>.html",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="grade this many submissions at once, each in its own process (default: 1)",
    )
    run.add_argument(
        "--force", action="store_true", help="regrade submissions already graded in --out"
    )
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        help="course configuration (default: ./grader.toml, else [tool.grader] of "
        "./pyproject.toml, else the built-in defaults)",
    )
    run.add_argument(
        "--require-isolation",
        action="store_true",
        help="refuse to grade when bubblewrap is not available",
    )
    run.add_argument(
        "--isolation",
        default="auto",
        choices=("auto", "bwrap", "process", "strongest"),
        help="auto/bwrap: bubblewrap, or refuse; process: reduced isolation, chosen explicitly "
        "(root only: student code as a user of its own); strongest: bubblewrap where it "
        "starts, else process",
    )
    run.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="prepared CIFAR-10 folder (default: datasets/cifar10)",
    )
    run.add_argument(
        "--gate-set",
        action="append",
        metavar="KEY=VALUE",
        help="replace a field of the gate recipe, e.g. epochs=1 (repeatable)",
    )
    run.add_argument(
        "--probe-timeout",
        type=float,
        default=None,
        help=f"seconds one call into student code may take (default: the course "
        f"configuration's, else {PROBE_TIMEOUT_S:g})",
    )
    run.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wall seconds the grader may spend on one submission before it stops that "
        "submission's grading and goes on with the class (default: the course "
        "configuration's grading_deadline_s, else the exercises' budgets and the gate's limit "
        "with a margin)",
    )
    run.add_argument(
        "--executor",
        default="local",
        choices=("local", "slurm"),
        help="local: grade on this machine (--jobs at a time); slurm: submit the submissions "
        "--out does not hold yet as a Slurm job array (submitit), each task grading "
        "submissions_per_task of them --jobs at a time, and follow it (default: local)",
    )
    run.add_argument(
        "--detach",
        action="store_true",
        help="with --executor slurm: submit and return; a later `grader run ... --out DIR` "
        "follows the array and reports",
    )
    run.add_argument(
        "--slurm-set",
        action="append",
        metavar="KEY=VALUE",
        help="replace a key of the course configuration's slurm table for this run, e.g. "
        "partition=gpu, account=cs101, time_per_task_min=30, cpus_per_task=4, "
        "mem_per_task_gb=16, gpus_per_task=1, array_parallelism=20, submissions_per_task=2, "
        "setup='module load cuda' (repeatable)",
    )
    run.add_argument(
        "--similarity",
        action="store_true",
        help="also write a code-similarity report of the class to OUT/similarity "
        "(as grader similarity; scores are not changed)",
    )
    run.add_argument(
        "--no-report",
        action="store_true",
        help="with --out: do not write the class report to OUT/report (grader report)",
    )
    run.set_defaults(func=_run)

    report = commands.add_parser(
        "report",
        help="the class report for staff: scores, what the class got wrong, test quality, "
        "the gate, warnings, similarity (offline HTML, JSON and CSV; changes no result)",
    )
    report.add_argument("results", type=Path, help="the folder grader run --out wrote")
    report.add_argument(
        "--dest",
        type=Path,
        help="where index.html, report.json and tests.csv go (default: RESULTS/report)",
    )
    report.add_argument(
        "--similarity",
        type=Path,
        metavar="DIR",
        help="the folder of a similarity report to summarise (default: RESULTS/similarity, "
        "where there is one)",
    )
    report.set_defaults(func=_report)

    similar = commands.add_parser(
        "similarity",
        help="which pairs of a class handed in the same code (offline; changes no score)",
    )
    similar.add_argument(
        "paths", nargs="+", type=Path, help="a folder of submissions (as grader run takes)"
    )
    similar.add_argument(
        "--out", type=Path, required=True, help="folder for similarity.html and similarity.json"
    )
    similar.add_argument(
        "--against",
        action="append",
        type=Path,
        metavar="DIR",
        help="a reference folder (an earlier term, known solutions): compared with the class, "
        "not with the other reference folders (repeatable)",
    )
    similar.add_argument("--exercises", help="comma-separated, e.g. ex1,ex3 (default: all)")
    similar.add_argument("--config", type=Path, default=None, help="course configuration")
    similar.add_argument(
        "--jobs", type=int, default=None, help="processes that compare (default: one per core)"
    )
    similar.set_defaults(func=_similarity)

    calibrate = commands.add_parser(
        "calibrate",
        help="measure what the reference's gate training costs on this machine (the basis of "
        "the gate's time limit; done once automatically when missing)",
    )
    calibrate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    calibrate.add_argument("--repeats", type=int, default=1, help="runs; the median is kept")
    calibrate.add_argument("--config", type=Path, default=None, help="course configuration")
    calibrate.add_argument(
        "--isolation", default="auto", choices=("auto", "bwrap", "process", "strongest")
    )
    calibrate.add_argument("--data-root", type=Path, default=None)
    calibrate.add_argument("--gate-set", action="append", metavar="KEY=VALUE")
    calibrate.set_defaults(func=_calibrate)

    check = commands.add_parser("check", help="run the public tests on your exercises (CPU)")
    check.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help="folder with your exercise files (default: exercises/)",
    )
    check.set_defaults(func=_check)

    release = commands.add_parser("release", help="regenerate exercises/ from solutions/")
    release.set_defaults(func=_release)

    data = commands.add_parser("data", help="get and prepare CIFAR-10")
    data.add_argument("action", choices=("fetch", "import", "prepare"))
    data.add_argument(
        "source",
        nargs="?",
        type=Path,
        help="for import/prepare: a cifar-10-batches-py folder, image-folder tree "
        "or tarball (default: $CIFAR10_SOURCE or the shared tarball)",
    )
    data.add_argument(
        "--root",
        type=Path,
        default=None,
        help="where the prepared arrays go (default: datasets/cifar10)",
    )
    data.set_defaults(func=_data)
    export = commands.add_parser(
        "export", help="an nbgrader course, a Gradescope autograder zip or a GitHub workflow"
    )
    export.add_argument("target", choices=TARGETS)
    export.add_argument("dest", type=Path, help="the folder to write into")
    export.add_argument("--config", type=Path, default=None, help="course configuration to ship")
    export.set_defaults(func=_export)

    book = commands.add_parser(
        "gradebook",
        help="stored results to a Canvas, Moodle or CSV gradebook, the course's late policy, "
        "extensions and overrides applied (the results are not changed)",
    )
    book.add_argument("results", type=Path, help="the folder grader run --out wrote")
    book.add_argument(
        "--format",
        default="canvas",
        choices=GRADEBOOK_FORMATS,
        help="canvas: Canvas's grade import; moodle: Moodle's; csv: every student with each "
        "step to the final score (default: canvas)",
    )
    book.add_argument(
        "--roster",
        type=Path,
        required=True,
        help="the class list (CSV), e.g. Canvas's gradebook export or Moodle's participants",
    )
    book.add_argument(
        "--roster-id",
        help="the roster column that holds submission names (default: gradebook.roster_id, "
        "else the first of SIS Login ID, ID number, Email address, id)",
    )
    book.add_argument(
        "--times",
        choices=SOURCES,
        help="where submission times come from (mtime only when nothing records them)",
    )
    book.add_argument(
        "--from",
        dest="times_from",
        type=Path,
        metavar="PATH",
        help="for --times: the submissions folder, nbgrader's submitted/ folder, or the CSV",
    )
    book.add_argument(
        "--extensions",
        type=Path,
        help="per-student extensions, CSV or TOML (default: the "
        "course configuration's gradebook.extensions)",
    )
    book.add_argument(
        "--overrides",
        type=Path,
        help="score overrides with reason and author, CSV or TOML (default: gradebook.overrides)",
    )
    book.add_argument(
        "--missing",
        choices=MISSING,
        help="a roster student without a submission (default: gradebook.missing, else zero)",
    )
    book.add_argument(
        "--moodle-key",
        default="email",
        choices=tuple(MOODLE_KEYS),
        help="the column Moodle matches students by (default: email)",
    )
    book.add_argument(
        "--dest",
        type=Path,
        help="where the gradebook and audit.json go (default: RESULTS/gradebook)",
    )
    book.add_argument("--config", type=Path, default=None, help="course configuration")
    book.set_defaults(func=_gradebook)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from grader.errors import GraderError

    try:
        return args.func(args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
