"""``grader run``: the course read once, the request made, an executor grades it, the
results rendered.

:func:`run` checks the command line's values, reads the course configuration, makes the
:class:`~grader.grading.plan.Request` and hands it with the submissions to an executor
(:mod:`grader.batch.executors`: this machine, or a Slurm cluster), which resolves the plan
where it grades; then it renders the results. ``grader calibrate`` measures the gate's
reference cost here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader import i18n
from grader.batch import executors
from grader.batch.executors import EXECUTORS
from grader.course import config as course_config
from grader.errors import GraderError
from grader.gate import calibration, rules
from grader.grading.plan import (
    Request,
    choose_isolation,
    gate_data,
    gate_recipe,
    measure_reference,
    resolve_device,
)
from grader.kit import SOLUTIONS_DIR, select_exercises
from grader.results import formats
from grader.results.model import SubmissionResult
from grader.submissions.loading import Submission, discover, load


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
    language: str | None = None,
    stdout=None,
    stderr=None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths`` and print the results in ``fmt``; what the
    students read is in ``language`` (default: the course's, else English)."""
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
    if language is not None and language not in i18n.LANGUAGES:
        raise GraderError(f"unknown language {language!r}: use {', '.join(i18n.LANGUAGES)}")
    try:
        course = course_config.load(config)
        selected = select_exercises(exercises)
        settings = course_config.slurm_settings(
            course_config.parse_slurm_pairs(slurm_set), course.slurm
        )
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    language = language or course.language or i18n.DEFAULT
    submissions = _submissions(paths, reference, language)
    keys = [e.key for e in selected]
    request = Request(
        exercises=keys,
        course=course,
        device=device,
        isolation=isolation,
        require_isolation=require_isolation,
        gate=gate and rules.has_gate(keys),
        gate_overrides=dict(gate_overrides or {}),
        probe_timeout_s=probe_timeout_s,
        deadline_s=deadline_s,
        data_root=str(Path(data_root).resolve()) if data_root else None,
        out=str(Path(out).resolve()) if out else None,
        paths=[str(Path(p).resolve()) for p in paths or []],
        language=language,
    )
    on_result = None
    if fmt == "json":

        def on_result(result):
            print(result.to_json(), file=stdout, flush=True)

    grader = executors.Slurm(settings, detach=detach) if executor == "slurm" else executors.Local()
    outcome = grader.grade(
        request, submissions, jobs=jobs, force=force, stderr=stderr, on_result=on_result
    )
    if outcome is None:
        return []
    if fmt != "json":
        formats.emit(fmt, outcome.results, stdout)
    if out is not None:
        from grader.results import feedback_page

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
    device = resolve_device(device)
    isolation = choose_isolation(isolation, False, stderr)
    recipe = {**gate_recipe(course, device, gate_overrides), "time_limit_s": None}
    data_root = gate_data(data_root, stderr)
    try:
        entry = measure_reference(recipe, device, isolation, data_root, stderr, repeats=repeats)
    except calibration.CalibrationError as exc:
        raise GraderError(str(exc)) from None
    machine = entry["machine"]
    _, how = rules.time_limit(recipe, entry, device)
    basis = how["time_basis"]
    print(
        f"the reference trains in {entry['wall_s']:.1f} s ({entry['cpu_s'] or 0:.1f} CPU s) on "
        f"{machine['device_name']} with {machine['cores']} core(s); the gate's limit here is "
        f"{recipe['time_factor']:g} x {how['reference_s']:.1f} {basis} s, "
        f"kept in {Path(data_root) / calibration.FILE}",
        file=stdout,
    )
    return entry


def _submissions(paths: list[Path] | None, reference: bool, language: str) -> list[Submission]:
    """What to grade, each submission's notes in ``language``; what is wrong with ``paths``
    themselves is the caller's error, in English."""
    if reference:
        with i18n.using(language):
            return [load(SOLUTIONS_DIR, "reference")]
    if not paths:
        raise GraderError("nothing to grade: give a submission path or --reference")
    try:
        return discover(paths, language)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
