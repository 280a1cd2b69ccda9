"""Find submissions and stage each one as a clean folder of exercise files and helpers.

A submission is a folder, a zip, or a set of files holding some of the exercise
files, as ``.py`` or ``.ipynb``; what their names mean (letter case, near misses, helper
modules) is :mod:`grader.submissions.handin`. Staging writes only the exercise files (a
notebook becomes the ``.py`` of its code cells, :mod:`grader.submissions.notebooks`) and the
helper modules beside them, so the worker sees nothing else; what the feedback of a missing
exercise names is kept beside them (:data:`MANIFEST`).

Nothing is ever extracted: zip members are read into memory, a member with an unsafe
path (``..``, absolute) or a symlink in place of an exercise file makes the whole zip
an error, and sizes are capped before and while reading (compression bombs); a zip's
table of contents is measured from its end record before it is parsed at all. A file
that cannot be Python source (binary, not UTF-8) is staged as a module that raises an
ImportError saying so, so the student reads the cause in every test of that exercise.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from grader import i18n
from grader.errors import SubmissionError
from grader.i18n import N_, _, n_
from grader.submissions import handin
from grader.submissions.handin import (
    MAX_SOURCE_BYTES,
    Entry,
    assemble,
    exercise_name,
    quoted,
    shown,
)
from grader.submissions.notebooks import (
    checked_source,
    notebook_magics_note,
    notebook_to_source,
    script_source,
)

EXPECTED = handin.MODULES
MAX_ZIP_BYTES = 100 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024 * 1024
"""A zip's table of contents (central directory), which ``zipfile`` parses whole on opening:
10,000 entries with long paths fit; a million empty ones (5 s and a GiB to parse) do not."""
MAX_ZIP_UNPACKED_BYTES = 64 * 1024 * 1024
"""Bytes unpacked from one zip in all."""
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
MANIFEST = ".handin.json"
"""Written into a staged folder where an exercise is missing: what its feedback names."""
MAX_MANIFEST_BYTES = 64 * 1024


@dataclass
class Submission:
    id: str
    source: Path
    files: dict[str, bytes] = field(default_factory=dict)
    """Exercise file name (``ex1_gradients.py`` or ``.ipynb``) -> its bytes."""
    error: str = ""
    """Why the submission could not be read at all (then it scores 0, the batch goes on)."""
    notes: list[str] = field(default_factory=list)
    """What the grader changed and the student or TA should know (a renamed duplicate id, a
    name taken despite its letter case, the helper modules staged)."""
    helpers: dict[str, bytes] = field(default_factory=dict)
    """Helper module file name (``utils.py``) -> its bytes."""
    missing: dict[str, str] = field(default_factory=dict)
    """Exercise module not handed in -> what the submission holds close to its name ("")."""


def _read_path(path: Path, limit: int) -> bytes:
    """A file's bytes, never more than ``limit`` whatever it grows to meanwhile, never through a
    symbolic link, never blocking on a pipe put in its place."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionError(
            _("{name} could not be read ({why})", name=quoted(path.name), why=exc.strerror)
        ) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SubmissionError(_("{name} is not a regular file", name=quoted(path.name)))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SubmissionError(_larger(path.name, limit))
    return data


def _folder_entries(folder: Path) -> list[Entry]:
    """The files of a folder (not its folders): every one named like an exercise file, and of
    the others as many as a zip may hold."""
    entries, others = [], 0
    for path in sorted(folder.iterdir()):
        if not is_exercise_file(path.name):
            others += 1
            if others > MAX_ZIP_MEMBERS:
                continue
        link = path.is_symlink()
        if link or path.is_file():
            entries.append(Entry(path.name, link, functools.partial(_read_path, path)))
    return entries


def is_exercise_file(name: str) -> bool:
    """Whether ``name`` stands for an exercise file (letter case aside)."""
    return exercise_name(name) is not None


def _unsafe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name) is not None


def _read_zip(path: Path) -> dict:
    """The fields of a :class:`Submission` from a zip, its members read into memory (never
    extracted). A member path written with backslashes (older Windows tools) is read as
    folders."""
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise SubmissionError(_larger(path.name, MAX_ZIP_BYTES))
    entries, directory = _zip_directory(path)
    if entries > MAX_ZIP_MEMBERS:
        raise SubmissionError(_too_many_members(path))
    if directory > MAX_ZIP_DIRECTORY_BYTES:
        raise SubmissionError(
            _(
                "{name}'s table of contents is over {mib} MiB: zip only the exercise files",
                name=shown(path.name),
                mib=MAX_ZIP_DIRECTORY_BYTES // 2**20,
            )
        )
    budget = [MAX_ZIP_UNPACKED_BYTES]
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise SubmissionError(_too_many_members(path))
            found = []
            for info in members:
                if _unsafe_member(info.filename):
                    raise SubmissionError(
                        _(
                            "{name} holds an entry with an unsafe path ({entry!r}: absolute or "
                            "with '..'); zip the folder itself and hand it in again",
                            name=shown(path.name),
                            entry=shown(info.filename),
                        )
                    )
                if not info.is_dir() and not info.filename.endswith("\\"):
                    link = (info.external_attr >> 16) & 0o170000 == 0o120000
                    read = functools.partial(_read_member, archive, info, path, budget)
                    found.append(Entry(info.filename.replace("\\", "/"), link, read))
            return assemble(found, shown(path.name))
    except SubmissionError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise SubmissionError(
            _("{name} is not a valid zip file ({error})", name=shown(path.name), error=exc)
        ) from None
    except (OSError, ValueError, RuntimeError, zlib.error) as exc:
        raise SubmissionError(
            _(
                "{name} could not be read as a zip (damaged? {error})",
                name=shown(path.name),
                error=exc,
            )
        ) from None


_END = struct.Struct("<4s4xHHIIH")
"""A zip's end record: signature, entries on this disk and in all, directory size, offset,
comment length (``zipfile`` reads the same record)."""
_END64_LOCATOR = struct.Struct("<4sIQI")
_END64 = struct.Struct("<4sQ2H2I4Q")


def _zip_directory(path: Path) -> tuple[int, int]:
    """The entries and the bytes of a zip's table of contents, as its end record (zip64's
    where it has one) says, read as ``zipfile`` finds it; ``(0, 0)`` where there is none
    (``zipfile`` then says what is wrong)."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - _END.size - 0xFFFF))
        tail = handle.read()
        at = len(tail) - _END.size
        if tail[at : at + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
            at = tail.rfind(b"PK\x05\x06")  # after a comment
        if at < 0 or len(tail) - at < _END.size:
            return 0, 0
        _sig, _disk, entries, directory, _offset, _comment = _END.unpack_from(tail, at)
        locator = at - _END64_LOCATOR.size
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            offset = _END64_LOCATOR.unpack_from(tail, locator)[2]
            handle.seek(offset)
            record = handle.read(_END64.size)
            if len(record) == _END64.size and record[:4] == b"PK\x06\x06":
                entries, directory = _END64.unpack(record)[7:9]
    return entries, directory


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, budget: list[int], limit: int
) -> bytes:
    """One member's bytes, never more than ``limit`` or the zip's remaining budget unpacked,
    whatever its header says."""
    too_large = SubmissionError(
        _(
            "{name}: {member} is larger than {mib} MiB unpacked (a compression bomb?)",
            name=shown(path.name),
            member=shown(info.filename),
            mib=limit // 2**20,
        )
    )
    if info.file_size > limit:
        raise too_large
    with archive.open(info) as member:
        data = member.read(min(limit, budget[0]) + 1)
    if len(data) > limit:
        raise too_large
    if len(data) > budget[0]:
        raise SubmissionError(
            _(
                "{name} unpacks to more than {mib} MiB of exercise files (a compression bomb?)",
                name=shown(path.name),
                mib=MAX_ZIP_UNPACKED_BYTES // 2**20,
            )
        )
    budget[0] -= len(data)
    return data


def _larger(name: str, limit: int) -> str:
    return _("{name} is larger than {mib} MiB", name=shown(name), mib=limit // 2**20)


def _too_many_members(path: Path) -> str:
    return _("{name} holds over {count} entries", name=shown(path.name), count=MAX_ZIP_MEMBERS)


def is_submission(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".zip" or is_exercise_file(path.name)
    return path.is_dir() and any(is_exercise_file(p.name) for p in path.iterdir())


def load(path: Path, submission_id: str | None = None) -> Submission:
    """Read one submission (folder, zip or single exercise file)."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(_("{path} does not exist", path=shown(str(path))))
    if path.is_dir():
        found = assemble(_folder_entries(path), shown(path.name))
    elif path.suffix.lower() == ".zip":
        found = _read_zip(path)
    elif is_exercise_file(path.name):
        read = functools.partial(_read_path, path)
        found = assemble([Entry(path.name, path.is_symlink(), read)], shown(path.name))
        found["missing"] = {}  # one file named alone: the others are not missing from it
    else:
        raise SubmissionError(
            _(
                "{path} is not a folder, a zip or an exercise file{close}",
                path=shown(str(path)),
                close=_close_to(path),
            )
        )
    name = submission_id or (path.stem if path.is_file() else path.resolve().name)
    return Submission(id=safe_id(name), source=path, **found)


def safe_id(name: str) -> str:
    """A student id usable as a file name: ASCII letters, digits, ``.``, ``_`` and ``-``."""
    return SAFE_ID.sub("_", name).strip(".") or "submission"


RENAMED = N_("another submission is also named {base!r}, so {name!r} is graded as {new!r}")


def _unique_ids(found: list[Submission], language: str | None) -> list[Submission]:
    """Rename repeated ids (``alice/`` and ``alice.zip``) to ``alice``, ``alice-2``, ... and say so:
    in the result's notes in ``language``, on stderr (to staff) in English.

    Ids are compared ignoring case, since results are written as ``<id>.json``.
    """
    taken: set[str] = set()
    for submission in found:
        base, number, new = submission.id, 1, submission.id
        while new.lower() in taken:
            number += 1
            new = f"{base}-{number}"
        taken.add(new.lower())
        if new != base:
            said = {"base": base, "name": shown(submission.source.name), "new": new}
            with i18n.using(language):
                submission.notes.append(_(RENAMED, **said))
            submission.id = new
            print(f"note: {RENAMED.format(**said)}", file=sys.stderr)
    return found


def discover(paths: list[Path], language: str | None = None) -> list[Submission]:
    """One submission per path that is one; a folder of submissions gives one per entry.
    Each submission's notes and errors are written in ``language`` (default: the current
    one); what is wrong with ``paths`` themselves, in the current one."""
    found: list[Submission] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SubmissionError(_("{path} does not exist", path=shown(str(path))))
        if is_submission(path):
            found.append(_load_entry(path, language))
            continue
        if not path.is_dir():
            raise SubmissionError(
                _(
                    "{path} is not a submission (no exercise files){close}",
                    path=shown(str(path)),
                    close=_close_to(path),
                )
            )
        entries = [p for p in sorted(path.iterdir()) if p.is_dir() or p.suffix.lower() == ".zip"]
        entries = [p for p in entries if not p.name.startswith(".")]
        if not entries:
            raise SubmissionError(
                _(
                    "{path} holds no submissions (no exercise files, folders or zips){close}",
                    path=shown(str(path)),
                    close=_near_misses_in(path),
                )
            )
        for entry in entries:
            found.append(_load_entry(entry, language))
    return _unique_ids(found, language)


def _load_entry(entry: Path, language: str | None = None) -> Submission:
    """One student's entry of a class folder; whatever is wrong with it is its own error."""
    name = safe_id(entry.stem if entry.is_file() else entry.name)
    with i18n.using(language):
        try:
            return notebook_set(load(entry))
        except SubmissionError as exc:
            return Submission(id=name, source=entry, error=str(exc))
        except (OSError, ValueError, RecursionError, MemoryError) as exc:
            why = f"{type(exc).__name__}: {shown(str(exc))}"
            return Submission(
                id=name, source=entry, error=_("it could not be read ({why})", why=why)
            )


def notebook_set(submission: Submission) -> Submission:
    """A folder whose only exercise files sit one level down (nbgrader's ``<student>/<ps>/``)."""
    source = submission.source
    if submission.files or submission.error or not source.is_dir():
        return submission
    inner = [p for p in sorted(source.iterdir()) if p.is_dir() and is_submission(p)]
    return load(inner[0], submission.id) if len(inner) == 1 else submission


def _close_to(path: Path) -> str:
    """What a file that is no exercise file is close to, as a clause."""
    close = handin.near_modules(path.name)
    return _(" (its name is close to {module}.py: rename it)", module=close[0]) if close else ""


def _near_misses_in(folder: Path) -> str:
    """What a folder without exercise files holds close to their names, as a clause."""
    close = [p.name for p in sorted(folder.iterdir())[:1000] if handin.near_modules(p.name)]
    if not close:
        return ""
    return _("; {names} close to their names: rename", names=handin.list_names(close))


def _note(submission: Submission, note: str) -> None:
    if note not in submission.notes:
        submission.notes.append(note)


def _python_source(submission: Submission, data: bytes, name: str) -> bytes:
    """A ``.py`` as the worker imports it: non-source as an ImportError, an exported
    notebook's ``get_ipython()`` lines skipped (and said)."""
    source, skipped = script_source(checked_source(data, name))
    if skipped:
        _note(
            submission,
            n_(
                "{name}: line {lines} skipped: it calls get_ipython(), as a script exported "
                "from Jupyter does for a magic (%) or shell (!) line, which only Jupyter can run",
                "{name}: lines {lines} skipped: they call get_ipython(), as a script exported "
                "from Jupyter does for a magic (%) or shell (!) line, which only Jupyter can run",
                len(skipped),
                name=name,
                lines=", ".join(map(str, skipped)),
            ),
        )
    return source


def stage(submission: Submission, dest: Path) -> Path:
    """Write the submission's exercise files as ``.py`` into ``dest`` (a ``.py`` wins), its
    helper modules beside them, and :data:`MANIFEST` where an exercise is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    for module in EXPECTED:
        py, ipynb = submission.files.get(module + ".py"), submission.files.get(module + ".ipynb")
        if py is not None:
            (dest / f"{module}.py").write_bytes(_python_source(submission, py, module + ".py"))
        elif ipynb is not None:
            magics: list[tuple[int, str]] = []
            text = notebook_to_source(ipynb, module + ".ipynb", magics)
            if magics:
                _note(submission, notebook_magics_note(module + ".ipynb", magics))
            if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
                message = _(
                    "{module}.ipynb holds more than {mib} MiB of code; hand in only your "
                    "exercise's code",
                    module=module,
                    mib=MAX_SOURCE_BYTES // 2**20,
                )
                text = f"raise ImportError({message!r})\n"
            (dest / f"{module}.py").write_text(text, encoding="utf-8", errors="replace")
    for name, data in submission.helpers.items():
        (dest / name).write_bytes(_python_source(submission, data, name))
    manifest = dest / MANIFEST
    manifest.unlink(missing_ok=True)
    if submission.missing:
        manifest.write_text(json.dumps({"missing": submission.missing}), encoding="utf-8")
    return dest


def missing_file_message(staged: Path, module: str, key: str) -> str:
    """The feedback of every test of exercise ``key`` whose ``module`` is not in the staged
    submission, naming what the submission holds close to its name."""
    sentence = ""
    try:
        with (staged / MANIFEST).open("rb") as handle:
            missing = json.loads(handle.read(MAX_MANIFEST_BYTES)).get("missing", {})
        sentence = str(missing.get(module) or "")
    except (OSError, ValueError, AttributeError):
        pass
    return handin.missing_message(module, key, sentence)
