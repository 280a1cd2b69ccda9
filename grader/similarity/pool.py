"""Fingerprinting and comparing a class on several cores.

copydetect hashes k-grams with Python's ``hash``, whose seed every interpreter draws anew;
processes forked from this one keep its seed, so a fingerprint made in one compares with a
fingerprint made in another. The work is set in module state before the fork and handed
out by index, so nothing large is pickled on the way in; results come back pickled, in
order. Where ``fork`` is not available (or ``jobs`` is 1) everything runs here.
"""

from __future__ import annotations

import multiprocessing
import time

from grader.course.config import SimilaritySettings
from grader.similarity import compare, fingerprints
from grader.submissions.loading import Submission

_STATE: dict = {}


def _entry(index: int) -> fingerprints.Entry:
    submission, reference = _STATE["items"][index]
    return fingerprints.entry(
        submission,
        _STATE["settings"],
        _STATE["stubs"],
        reference=reference,
        exercises=_STATE["exercises"],
    )


def _row(index: int) -> list[compare.Pair]:
    """Student ``index`` with every later student and every reference submission."""
    students = _STATE["students"]
    others = students[index + 1 :] + _STATE["references"]
    return [compare.compare(students[index], other) for other in others]


def _map(function, count: int, jobs: int, weight, progress):
    """``function(i)`` for each ``i`` below ``count``, in order; ``progress(done, total)``
    every two seconds, ``done`` and ``total`` summing ``weight(i)``."""
    total, done, last = sum(weight(i) for i in range(count)), 0, time.monotonic()
    forked = jobs > 1 and count > 1 and "fork" in multiprocessing.get_all_start_methods()
    pool = multiprocessing.get_context("fork").Pool(min(jobs, count)) if forked else None
    try:
        results = pool.imap(function, range(count)) if pool else map(function, range(count))
        out = []
        for index, result in enumerate(results):
            out.append(result)
            done += weight(index)
            if progress and (time.monotonic() - last > 2 or index == count - 1):
                progress(done, total)
                last = time.monotonic()
        return out
    finally:
        if pool:
            pool.terminate()
            pool.join()


def entries(
    items: list[tuple[Submission, bool]],
    settings: SimilaritySettings,
    stubs: fingerprints.Boilerplate,
    exercises: list[str],
    *,
    jobs: int = 1,
    progress=None,
) -> list[fingerprints.Entry]:
    """:func:`fingerprints.entry` of each ``(submission, is_reference)``, in order."""
    _STATE.update(items=items, settings=settings, stubs=stubs, exercises=exercises)
    try:
        return _map(_entry, len(items), jobs, lambda _: 1, progress)
    finally:
        _STATE.clear()


def all_pairs(
    found: list[fingerprints.Entry], *, jobs: int = 1, progress=None
) -> list[compare.Pair]:
    """Every pair of the class, and every reference submission with every class one
    (references are never compared with each other), in a stable order."""
    students = [e for e in found if e.documents and not e.reference]
    references = [e for e in found if e.documents and e.reference]
    _STATE.update(students=students, references=references)

    def weight(index: int) -> int:
        return len(students) - 1 - index + len(references)

    try:
        rows = _map(_row, len(students), jobs, weight, progress)
    finally:
        _STATE.clear()
    return [pair for row in rows for pair in row]
