"""``grader similarity``: which pairs of a class handed in the same code, offline.

Every pair of submissions is compared exercise by exercise with copydetect's winnowing
fingerprints (:mod:`grader.similarity.compare`): the same submissions ``grader run``
discovers (folders, zips, notebooks' code cells), the released stubs left out as
boilerplate, reference folders (earlier terms, known solutions) compared with the class but
not with each other. It writes ``similarity.json`` and ``similarity.html`` into the report
folder and a short table on stderr (:mod:`grader.similarity.report`). It reads submissions
as data and never runs them, and it changes no score.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from grader import course_config
from grader.config import select_exercises
from grader.errors import GraderError
from grader.submission import SubmissionError, discover, safe_id


def similarity(
    paths: list[Path],
    *,
    out: Path,
    against: list[Path] = (),
    config: Path | None = None,
    exercises: str | None = None,
    stderr=None,
) -> dict:
    """Compare the class under ``paths`` (and with ``against``); write the report to ``out``.

    Returns the contents of ``similarity.json``. Raises GraderError when there is nothing to
    compare (no submissions, a bad configuration)."""
    from grader.similarity import compare, report

    stderr = stderr or sys.stderr
    if not paths:
        raise GraderError("grader similarity needs a folder of submissions")
    try:
        settings = course_config.load(config).similarity
        keys = [e.key for e in select_exercises(exercises)]
        submissions = discover(list(paths))
        references = [(Path(folder), discover([folder])) for folder in against]
    except (SubmissionError, ValueError) as exc:
        raise GraderError(str(exc)) from None
    start = time.monotonic()
    total = len(submissions) + sum(len(found) for _, found in references)
    print(f"similarity: fingerprinting {total} submissions ...", file=stderr, flush=True)
    stubs = compare.boilerplate(settings)
    entries = [compare.entry(s, settings, stubs, exercises=keys) for s in submissions]
    for folder, found in references:
        for submission in found:
            submission.id = f"{safe_id(folder.name)}/{submission.id}"
            entries.append(
                compare.entry(submission, settings, stubs, reference=True, exercises=keys)
            )
    if len(submissions) < 2 and not references:
        raise GraderError("only one submission found: nothing to compare it with")

    def progress(done: int, count: int) -> None:
        print(
            f"similarity: {done}/{count} pairs compared ({time.monotonic() - start:.0f} s)",
            file=stderr,
            flush=True,
        )

    pairs = compare.all_pairs(entries, settings.threshold, progress)
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    problems = compare.describe(entries)
    data = report.to_dict(pairs, entries, settings, len(pairs), problems)
    out = Path(out)
    report.write_json(data, out / "similarity.json")
    report.write_html(report.render_html(data, pairs, entries, settings), out / "similarity.html")
    print(report.table(data), file=stderr)
    print(
        f"similarity: report in {out / 'similarity.html'} and {out / 'similarity.json'} "
        f"({time.monotonic() - start:.1f} s)",
        file=stderr,
        flush=True,
    )
    return data
