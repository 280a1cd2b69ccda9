"""Each exercise file of a submission as copydetect fingerprints, the released stubs left out.

The fingerprints are copydetect's (:class:`copydetect.CodeFingerprint`: the code tokenized,
every name replaced by one letter, comments and blank space dropped, k-grams hashed and
winnowed). Files are taken exercise by exercise (a notebook's code cells with a ``.py``),
and the released stubs are boilerplate, left out twice. First every line a stub holds (as
text, or as the same code with other names) is dropped before fingerprinting, so that what
is compared is the code a student wrote: without this, the k-grams that join the end of one
student's function to the stub's next signature are shared by every pair that wrote the
functions in the same order. Then every k-gram hash of the stubs is dropped from what is
left, as copydetect's boilerplate files are (:func:`fingerprint` says why not through its
own argument). Comparing two submissions' fingerprints is :mod:`grader.similarity.compare`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from copydetect import CodeFingerprint
from copydetect.utils import filter_code, get_token_coverage

from grader.course.config import SimilaritySettings
from grader.kit import EXERCISES, EXERCISES_DIR
from grader.submissions.loading import MAX_SOURCE_BYTES, Submission, shown
from grader.submissions.notebooks import notebook_cells

FILTERED_LINES = 1 << 16
"""Lines whose filtered form is kept for the next file that holds them (stub lines, common
idioms); a bound, so that a class of large files does not fill the memory."""


@dataclass
class Document:
    """One exercise file of one submission, as compared: a notebook's code cells joined."""

    exercise: str
    filename: str
    """The file as handed in (``ex1_gradients.py`` or ``ex1_gradients.ipynb``)."""
    text: str
    fingerprint: CodeFingerprint
    """Of the student's own lines (:func:`own_lines`), joined."""
    lines: np.ndarray
    """Per own line: its offset in the joined own lines, its offset in ``text``, its length."""
    starts: np.ndarray = field(init=False)
    """Where each fingerprinted k-gram starts in the filtered code, in order."""
    unique: np.ndarray = field(init=False)
    """The fingerprint's distinct hashes, sorted."""
    which: np.ndarray = field(init=False)
    """For each of ``starts``, the index of its k-gram's hash in ``unique``."""

    def __post_init__(self):
        index = self.fingerprint.hash_idx
        starts = [i for positions in index.values() for i in positions]
        hashes = [h for h, positions in index.items() for _ in positions]
        order = np.argsort(starts, kind="stable")
        self.starts = np.asarray(starts, dtype=np.int64)[order]
        hashes = np.asarray(hashes, dtype=np.int64)[order]
        self.unique, self.which = np.unique(hashes, return_inverse=True)

    @property
    def tokens(self) -> int:
        """Characters of filtered code that the fingerprints cover (stubs left out)."""
        return int(self.fingerprint.token_coverage)

    def matched(self, shared: np.ndarray) -> int:
        """Characters of filtered code covered by the k-grams whose hashes are
        ``unique[shared]``: copydetect's token overlap, counted without its slices."""
        mask = np.zeros(len(self.unique), dtype=bool)
        mask[shared] = True
        return _covered(self.starts[mask[self.which]], self.fingerprint.k)


@dataclass
class Entry:
    """A submission of the class or of a reference folder, with its comparable files."""

    id: str
    reference: bool = False
    documents: dict[str, Document] = field(default_factory=dict)
    """Exercise key -> the file compared for it."""
    problems: list[str] = field(default_factory=list)
    """Why a file (or the whole submission) is not compared: one line each for the report."""


def exercise_text(filename: str, data: bytes) -> str:
    """The code of one exercise file as text; ValueError saying why there is none."""
    if b"\0" in data:
        raise ValueError("it holds NUL bytes, so it looks like a binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text ({exc})") from None
    if filename.endswith(".ipynb"):
        try:
            cells = notebook_cells(data)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise ValueError(f"it is not a valid Jupyter notebook ({detail})") from None
        text = "".join(f"# cell {number}\n{source}" for number, source in cells)
    if len(text) > MAX_SOURCE_BYTES:
        raise ValueError(f"it holds more than {MAX_SOURCE_BYTES // 2**20} MiB of code")
    if not text.strip():
        raise ValueError("it is empty")
    return text


@dataclass(frozen=True)
class Boilerplate:
    """What every student was given: the released stubs' lines and k-gram hashes."""

    lines: frozenset[str]
    """Each stub line, stripped, and the same line as copydetect filters it (names as V)."""
    hashes: np.ndarray
    """Every k-gram hash of the stubs, sorted."""


@lru_cache(maxsize=FILTERED_LINES)
def _filtered(line: str) -> str:
    return filter_code(line, "line.py", language="python")[0].strip()


def boilerplate(settings: SimilaritySettings) -> Boilerplate:
    """The released stubs (``exercises/``) as boilerplate."""
    lines: set[str] = set()
    hashes: set[int] = set()
    for exercise in EXERCISES.values():
        stub = EXERCISES_DIR / exercise.filename
        if stub.is_file():
            for line in stub.read_text(encoding="utf-8").splitlines():
                lines |= {line.strip(), _filtered(line.strip())}
            print_ = CodeFingerprint(str(stub), settings.noise_threshold, 1, language="python")
            hashes |= set(print_.hashes)
    return Boilerplate(frozenset(lines), np.array(sorted(hashes), dtype=np.int64))


def own_lines(text: str, stubs: Boilerplate) -> tuple[str, np.ndarray]:
    """The lines of ``text`` that are not a stub's (nor one renamed), joined; and where each
    came from (see :attr:`Document.lines`)."""
    kept, where, own, at = [], [], 0, 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped not in stubs.lines and _filtered(stripped) not in stubs.lines:
            kept.append(line)
            where.append((own, at, len(line)))
            own += len(line)
        at += len(line)
    return "".join(kept), np.array(where, dtype=int).reshape(-1, 3)


def fingerprint(
    filename: str, text: str, settings: SimilaritySettings, stubs: Boilerplate
) -> CodeFingerprint:
    """copydetect's fingerprint of ``text``, less every hash the stubs hold.

    The stubs' hashes are taken out here rather than by copydetect's ``boilerplate``
    argument, which removes one occurrence of a hash and keeps its repeats."""
    window = settings.guarantee_threshold - settings.noise_threshold + 1
    print_ = CodeFingerprint(
        filename, settings.noise_threshold, window, language="python", fp=io.StringIO(text)
    )
    kept = {h for h in print_.hashes if not _in(stubs.hashes, h)}
    print_.hashes = kept
    print_.hash_idx = {h: i for h, i in print_.hash_idx.items() if h in kept}
    print_.token_coverage = get_token_coverage(print_.hash_idx, print_.k, len(print_.filtered_code))
    return print_


def _in(sorted_hashes: np.ndarray, value: int) -> bool:
    at = np.searchsorted(sorted_hashes, value)
    return bool(at < len(sorted_hashes) and sorted_hashes[at] == value)


def entry(
    submission: Submission,
    settings: SimilaritySettings,
    stubs: Boilerplate,
    *,
    reference: bool = False,
    exercises: list[str] | None = None,
) -> Entry:
    """A discovered submission's comparable files (a ``.py`` wins over a notebook, as in
    grading); whatever cannot be compared becomes a line in ``problems``."""
    found = Entry(submission.id, reference=reference)
    if submission.error:
        found.problems.append(f"not compared: {submission.error}")
        return found
    for key in exercises or EXERCISES:
        module = EXERCISES[key].module
        for filename in (module + ".py", module + ".ipynb"):
            if filename in submission.files:
                break
        else:
            continue
        try:
            text = exercise_text(filename, submission.files[filename])
        except ValueError as exc:
            found.problems.append(f"{filename} not compared: {exc}")
            continue
        own, lines = own_lines(text, stubs)
        print_ = fingerprint(filename, own, settings, stubs)
        found.documents[key] = Document(key, filename, text, print_, lines)
    if not found.documents and not found.problems:
        found.problems.append("not compared: it holds no exercise files")
    return found


def _covered(starts: np.ndarray, k: int) -> int:
    """Length of the union of ``[s, s + k)`` over the sorted ``starts``."""
    if not len(starts):
        return 0
    return int(np.minimum(np.diff(starts), k).sum()) + k


def describe(entries: list[Entry]) -> list[str]:
    """The report's lines for what was not compared, ``<submission>: <why>``."""
    return [f"{shown(e.id)}: {problem}" for e in entries for problem in e.problems]
