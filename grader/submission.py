"""Find submissions and stage each one as a clean folder of ``exN_*.py`` files.

A submission is a folder, a zip, or a set of files holding some of the exercise
files, as ``.py`` or ``.ipynb``. Staging copies only the expected file names (a
notebook becomes the ``.py`` of its code cells), so the worker sees nothing else.

Nothing is ever extracted: zip members are read into memory, a member with an unsafe
path (``..``, absolute) or a symlink in place of an exercise file makes the whole zip
an error, and sizes are capped before and while reading (compression bombs). A file
that cannot be Python source (binary, not UTF-8) is staged as a module that raises an
ImportError saying so, so the student reads the cause in every test of that exercise.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tokenize
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import EXERCISES

EXPECTED = {e.module: e for e in EXERCISES.values()}
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ZIP_BYTES = 100 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


class SubmissionError(ValueError):
    """A path that cannot be read as a submission at all."""


@dataclass
class Submission:
    id: str
    source: Path
    files: dict[str, bytes] = field(default_factory=dict)
    """Exercise file name (``ex1_gradients.py`` or ``.ipynb``) -> its bytes."""
    error: str = ""
    """Why the submission could not be read at all (then it scores 0, the batch goes on)."""
    notes: list[str] = field(default_factory=list)
    """What the grader changed and the student or TA should know (a renamed duplicate id)."""


def _exercise_name(name: str) -> str | None:
    stem, dot, suffix = Path(name).name.rpartition(".")
    if dot and stem in EXPECTED and suffix in ("py", "ipynb"):
        return Path(name).name
    return None


def _read_folder(folder: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(folder.iterdir()):
        name = _exercise_name(path.name)
        if name and path.is_symlink():
            raise SubmissionError(f"{name} is a symbolic link, not a file; hand in the file itself")
        if name and path.is_file():
            if path.stat().st_size > MAX_FILE_BYTES:
                raise SubmissionError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB")
            files[name] = path.read_bytes()
    return files


def shown(name: str) -> str:
    """A file name as text that can always be printed (undecodable bytes as escapes)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _unsafe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name) is not None


def _read_zip(path: Path) -> dict[str, bytes]:
    """The exercise files of a zip, read into memory (never extracted)."""
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise SubmissionError(f"{shown(path.name)} is larger than {MAX_ZIP_BYTES // 2**20} MiB")
    found: dict[str, tuple[int, str, bytes]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise SubmissionError(f"{shown(path.name)} holds over {MAX_ZIP_MEMBERS} entries")
            for info in members:
                if _unsafe_member(info.filename):
                    raise SubmissionError(
                        f"{shown(path.name)} holds an entry with an unsafe path "
                        f"({info.filename!r}: absolute or with '..'); zip the folder itself "
                        "and hand it in again"
                    )
                name = _exercise_name(info.filename)
                if not name or info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise SubmissionError(
                        f"{shown(path.name)}: {info.filename} is a symbolic link, not a file; "
                        "zip the file itself"
                    )
                data = _read_member(archive, info, path)
                depth = info.filename.strip("/").count("/")
                if name in found and found[name][0] == depth and found[name][2] != data:
                    raise SubmissionError(
                        f"{shown(path.name)} holds two different {name} ({found[name][1]} and "
                        f"{info.filename}); keep only the one to be graded"
                    )
                if name not in found or depth < found[name][0]:
                    found[name] = (depth, info.filename, data)
    except SubmissionError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise SubmissionError(f"{shown(path.name)} is not a valid zip file ({exc})") from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise SubmissionError(f"{shown(path.name)} could not be read as a zip ({exc})") from None
    return {name: data for name, (_, _, data) in found.items()}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """One member's bytes, never more than MAX_FILE_BYTES unpacked (whatever its header says)."""
    too_large = SubmissionError(
        f"{shown(path.name)}: {info.filename} is larger than {MAX_FILE_BYTES // 2**20} MiB "
        "unpacked (a compression bomb?)"
    )
    if info.file_size > MAX_FILE_BYTES:
        raise too_large
    with archive.open(info) as member:
        data = member.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise too_large
    return data


def is_submission(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".zip" or _exercise_name(path.name) is not None
    return path.is_dir() and any(_exercise_name(p.name) for p in path.iterdir())


def load(path: Path, submission_id: str | None = None) -> Submission:
    """Read one submission (folder, zip or single exercise file)."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{shown(str(path))} does not exist")
    if path.is_dir():
        files = _read_folder(path)
    elif path.suffix == ".zip":
        files = _read_zip(path)
    elif _exercise_name(path.name):
        files = {path.name: path.read_bytes()}
    else:
        raise SubmissionError(f"{shown(str(path))} is not a folder, a zip or an exercise file")
    name = submission_id or (path.stem if path.is_file() else path.resolve().name)
    return Submission(id=safe_id(name), source=path, files=files)


def safe_id(name: str) -> str:
    """A student id usable as a file name: ASCII letters, digits, ``.``, ``_`` and ``-``."""
    return SAFE_ID.sub("_", name).strip(".") or "submission"


def _unique_ids(found: list[Submission]) -> list[Submission]:
    """Rename repeated ids (``alice/`` and ``alice.zip``) to ``alice``, ``alice-2``, ... and say so.

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
            note = (
                f"another submission is also named {base!r}, so {shown(submission.source.name)!r} "
                f"is graded as {new!r}"
            )
            submission.id = new
            submission.notes.append(note)
            print(f"note: {note}", file=sys.stderr)
    return found


def discover(paths: list[Path]) -> list[Submission]:
    """One submission per path that is one; a folder of submissions gives one per entry."""
    found: list[Submission] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SubmissionError(f"{shown(str(path))} does not exist")
        if is_submission(path):
            found.append(load(path))
            continue
        if not path.is_dir():
            raise SubmissionError(f"{shown(str(path))} is not a submission (no exercise files)")
        entries = [p for p in sorted(path.iterdir()) if p.is_dir() or p.suffix == ".zip"]
        entries = [p for p in entries if not p.name.startswith(".")]
        if not entries:
            raise SubmissionError(
                f"{shown(str(path))} holds no submissions (no exercise files, folders or zips)"
            )
        for entry in entries:
            try:
                found.append(load(entry))
            except (SubmissionError, OSError) as exc:
                name = safe_id(entry.stem if entry.is_file() else entry.name)
                found.append(Submission(id=name, source=entry, error=str(exc)))
    return _unique_ids(found)


def notebook_to_source(data: bytes, name: str) -> str:
    """The code cells of a notebook as one module; shell and magic lines are commented out."""
    try:
        notebook = json.loads(data.decode("utf-8"))
        cells = notebook["cells"]
        chunks = []
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            lines = [
                f"# {line}" if line.lstrip().startswith(("%", "!")) else line
                for line in source.splitlines()
            ]
            chunks.append("\n".join(lines))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        message = f"{name} is not a valid Jupyter notebook ({type(exc).__name__}: {exc})"
        return f"raise ImportError({message!r})\n"
    return "\n\n".join(chunks) + "\n"


def checked_source(data: bytes, name: str) -> bytes:
    """``data`` if it can be Python source; else a module that raises an ImportError saying why."""
    problem = ""
    if b"\0" in data:
        problem = "it holds NUL bytes, so it looks like a binary file (a .pyc, zip or image?)"
    else:
        try:
            data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
        except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
            problem = (
                f"it is not UTF-8 text ({exc}); save it as UTF-8, or hand in "
                "the .py file and not a compiled or binary one"
            )
    if not problem:
        return data
    message = f"{name} is not Python source: {problem}"
    return f"raise ImportError({message!r})\n".encode()


def stage(submission: Submission, dest: Path) -> Path:
    """Write the submission's exercise files as ``.py`` into ``dest`` (a ``.py`` wins)."""
    dest.mkdir(parents=True, exist_ok=True)
    for module in EXPECTED:
        py, ipynb = submission.files.get(module + ".py"), submission.files.get(module + ".ipynb")
        if py is not None:
            (dest / f"{module}.py").write_bytes(checked_source(py, module + ".py"))
        elif ipynb is not None:
            text = notebook_to_source(ipynb, module + ".ipynb")
            (dest / f"{module}.py").write_text(text, encoding="utf-8")
    return dest
