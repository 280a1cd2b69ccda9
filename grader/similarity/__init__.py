"""``grader similarity``: which pairs of a class handed in the same code, offline.

Every pair of submissions is compared exercise by exercise with copydetect's winnowing
fingerprints (:mod:`grader.similarity.fingerprints`, compared by
:mod:`grader.similarity.compare`), and reported where it scores high over the exercises both
handed in or where the files of any one exercise match closely: the same submissions ``grader run``
discovers (folders, zips, notebooks' code cells), the released stubs left out as
boilerplate, reference folders (earlier terms, known solutions) compared with the class but
not with each other. It writes ``similarity.json`` and ``similarity.html`` into the report
folder and a short table on stderr (:mod:`grader.similarity.report`). It reads submissions
as data and never runs them, and it changes no score.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from grader.course import config as course_config
from grader.errors import GraderError
from grader.kit import select_exercises
from grader.submissions.loading import SubmissionError, discover, safe_id


def similarity(
    paths: list[Path],
    *,
    out: Path,
    against: list[Path] = (),
    config: Path | None = None,
    exercises: str | None = None,
    jobs: int | None = None,
    stderr=None,
) -> dict:
    """Compare the class under ``paths`` (and with ``against``); write the report to ``out``.

    ``jobs`` processes fingerprint and compare (default: one per core). Returns the contents
    of ``similarity.json``. Raises GraderError when there is nothing to compare (no
    submissions, a bad configuration)."""
    from grader.similarity import compare, fingerprints, pool, report

    stderr = stderr or sys.stderr
    if not paths:
        raise GraderError("grader similarity needs a folder of submissions")
    try:
        settings = course_config.load_similarity(config)
        keys = [e.key for e in select_exercises(exercises)]
        submissions = discover(list(paths))
        references = [(Path(folder), discover([folder])) for folder in against]
    except (SubmissionError, ValueError) as exc:
        raise GraderError(str(exc)) from None
    if len(submissions) < 2 and not references:
        raise GraderError("only one submission found: nothing to compare it with")
    if jobs is not None and jobs < 1:
        raise GraderError(f"--jobs must be at least 1, got {jobs}")
    jobs = jobs or os.cpu_count() or 1
    start = time.monotonic()
    items = [(s, False) for s in submissions]
    taken = {s.id for s in submissions}
    for folder, found in references:
        for submission in found:
            name = new = f"{safe_id(folder.name)}/{submission.id}"
            for number in range(2, len(items) + 2):
                if new not in taken:
                    break
                new = f"{name}-{number}"
            submission.id = new
            taken.add(new)
            items.append((submission, True))

    def progress(what: str):
        def say(done: int, count: int) -> None:
            elapsed = time.monotonic() - start
            print(f"similarity: {done}/{count} {what} ({elapsed:.0f} s)", file=stderr, flush=True)

        return say

    stubs = fingerprints.boilerplate(settings)
    entries = pool.entries(
        items, settings, stubs, keys, jobs=jobs, progress=progress("submissions fingerprinted")
    )
    pairs = pool.all_pairs(entries, jobs=jobs, progress=progress("pairs compared"))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    flagged = compare.reported(pairs, settings)
    by_id = {e.id: e for e in entries}
    shown = report.side_by_side_pairs(flagged, settings)
    for pair, keys in shown:
        compare.add_regions(pair, by_id[pair.a], by_id[pair.b], keys)
    problems = fingerprints.describe(entries)
    data = report.to_dict(flagged, entries, settings, len(pairs), problems)
    out = Path(out)
    try:
        report.write_json(data, out / "similarity.json")
        scores = [p.score for p in pairs]
        page = report.render_html(data, scores, flagged, shown, entries, settings)
        report.write_html(page, out / "similarity.html")
    except OSError as exc:
        raise GraderError(f"the report could not be written to {out}: {exc}") from None
    print(report.table(data), file=stderr)
    print(
        f"similarity: report in {out / 'similarity.html'} and {out / 'similarity.json'} "
        f"({time.monotonic() - start:.1f} s)",
        file=stderr,
        flush=True,
    )
    return data
