"""Compare two submissions' fingerprints file by file: copydetect's measure, in bulk.

A file's fraction is copydetect's similarity, the share of its fingerprinted code that
k-grams shared with the other file cover. It is counted here from the fingerprints
(:mod:`grader.similarity.fingerprints`) with sorted arrays, which is what lets a class of
hundreds be compared in a minute; :func:`copydetect.compare_files` gives the matching
regions of the pairs a report shows (and the tests check that both agree). A pair's score
sums its files; a pair is reported when that score is high, or when the files of any one
exercise match closely with enough code on both sides (:func:`copied_exercises`), so that a
copy of one exercise in otherwise independent work is found too.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from copydetect import compare_files

from grader.course.config import SimilaritySettings
from grader.similarity.fingerprints import Entry


@dataclass
class FileMatch:
    """Two submissions' files for one exercise."""

    exercise: str
    score: float
    """Matched tokens of both files over their tokens (0-1)."""
    fraction_a: float
    fraction_b: float
    tokens_a: int
    tokens_b: int
    slices_a: np.ndarray
    """Matching regions in ``a``'s text: starts in row 0, ends in row 1 (character offsets)."""
    slices_b: np.ndarray


@dataclass
class Pair:
    a: str
    b: str
    score: float
    """Matched tokens over all tokens of the exercise files both handed in (0-1)."""
    files: dict[str, FileMatch]
    b_reference: bool = False
    exercises: list[str] = field(default_factory=list)
    """The exercises whose files match above the per-exercise threshold
    (:func:`copied_exercises`), in course order."""


_NO_REGIONS = np.zeros((2, 0), dtype=int)


def in_text(slices: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Regions of the joined own lines (starts in row 0, ends in row 1) as regions of the
    whole text, cut where a stub line lay between two own lines. Each region looks only at
    the lines it covers (found by bisection), so a file of many lines and many regions costs
    their sum, not their product."""
    rows = np.asarray(lines, dtype=int).reshape(-1, 3).tolist()
    own_starts = [own for own, _, _ in rows]
    starts, ends = [], []
    for start, end in zip(*np.asarray(slices, dtype=int).reshape(2, -1).tolist(), strict=True):
        for own, at, length in rows[max(0, bisect.bisect_right(own_starts, start) - 1) :]:
            if own >= end:
                break
            lo, hi = max(start, own), min(end, own + length)
            if lo >= hi:
                continue
            lo, hi = at + lo - own, at + hi - own
            if starts and ends[-1] == lo:
                ends[-1] = hi
            else:
                starts.append(lo)
                ends.append(hi)
    return np.array([starts, ends], dtype=int).reshape(2, -1)


def compare(a: Entry, b: Entry) -> Pair:
    """``a`` and ``b`` file by file, over the exercises both handed in.

    Each file's fraction is copydetect's similarity (matched tokens over the tokens its
    fingerprints cover), counted here from the fingerprints in bulk, without the matching
    regions (:func:`add_regions` adds them to the pairs a report shows)."""
    files = {}
    matched = total = 0
    for key, doc_a in a.documents.items():
        doc_b = b.documents.get(key)
        if doc_b is None:
            continue
        tokens_a, tokens_b = doc_a.tokens, doc_b.tokens
        total += tokens_a + tokens_b
        if not tokens_a or not tokens_b:
            continue
        common, in_a, in_b = np.intersect1d(
            doc_a.unique, doc_b.unique, assume_unique=True, return_indices=True
        )
        if not len(common):
            continue
        both_a, both_b = doc_a.matched(in_a), doc_b.matched(in_b)
        matched += both_a + both_b
        files[key] = FileMatch(
            key,
            (both_a + both_b) / (tokens_a + tokens_b),
            both_a / tokens_a,
            both_b / tokens_b,
            tokens_a,
            tokens_b,
            _NO_REGIONS,
            _NO_REGIONS,
        )
    score = matched / total if total else 0.0
    return Pair(a.id, b.id, round(score, 4), files, b_reference=b.reference)


def copied_exercises(pair: Pair, settings: SimilaritySettings) -> list[str]:
    """The exercises of ``pair`` whose files score at least ``exercise_threshold`` and hold at
    least ``exercise_min_tokens`` of code on both sides."""
    return [
        key
        for key, match in pair.files.items()
        if match.score >= settings.exercise_threshold
        and min(match.tokens_a, match.tokens_b) >= settings.exercise_min_tokens
    ]


def reported(pairs: list[Pair], settings: SimilaritySettings) -> list[Pair]:
    """The pairs a report lists, in the order given: each scoring at least ``threshold``, or
    with a copied exercise (which :func:`copied_exercises` records on the pair)."""
    found = []
    for pair in pairs:
        pair.exercises = copied_exercises(pair, settings)
        if pair.score >= settings.threshold or pair.exercises:
            found.append(pair)
    return found


def add_regions(pair: Pair, a: Entry, b: Entry, keys: list[str] | None = None) -> Pair:
    """The matching regions of each file of ``pair`` (``a`` and ``b`` its entries; only the
    exercises ``keys`` where given), from :func:`copydetect.compare_files`, as offsets in each
    file's text."""
    for key, match in pair.files.items():
        if keys is not None and key not in keys:
            continue
        doc_a, doc_b = a.documents[key], b.documents[key]
        _, _, (slices_a, slices_b) = compare_files(doc_a.fingerprint, doc_b.fingerprint)
        match.slices_a = in_text(slices_a, doc_a.lines)
        match.slices_b = in_text(slices_b, doc_b.lines)
    return pair
