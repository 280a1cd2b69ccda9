"""Find submissions and stage each one as a clean folder of ``exN_*.py`` files.

A submission is a folder, a zip, or a set of files holding some of the exercise
files, as ``.py`` or ``.ipynb``. Staging copies only the expected file names (a
notebook becomes the ``.py`` of its code cells), so the worker sees nothing else.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import EXERCISES

EXPECTED = {e.module: e for e in EXERCISES.values()}
MAX_FILE_BYTES = 5 * 1024 * 1024
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


def _exercise_name(name: str) -> str | None:
    stem, dot, suffix = Path(name).name.rpartition(".")
    if dot and stem in EXPECTED and suffix in ("py", "ipynb"):
        return Path(name).name
    return None


def _read_folder(folder: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(folder.iterdir()):
        name = _exercise_name(path.name)
        if name and path.is_file() and not path.is_symlink():
            if path.stat().st_size > MAX_FILE_BYTES:
                raise SubmissionError(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB")
            files[name] = path.read_bytes()
    return files


def _read_zip(path: Path) -> dict[str, bytes]:
    files = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = _exercise_name(info.filename)
                if not name or info.is_dir() or (info.external_attr >> 16) & 0o170000 == 0o120000:
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    raise SubmissionError(f"{path}: {info.filename} is too large when unpacked")
                with archive.open(info) as member:
                    data = member.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    raise SubmissionError(f"{path}: {info.filename} is too large when unpacked")
                files.setdefault(name, data)
    except zipfile.BadZipFile as exc:
        raise SubmissionError(f"{path} is not a valid zip file ({exc})") from None
    return files


def is_submission(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".zip" or _exercise_name(path.name) is not None
    return path.is_dir() and any(_exercise_name(p.name) for p in path.iterdir())


def load(path: Path, submission_id: str | None = None) -> Submission:
    """Read one submission (folder, zip or single exercise file)."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.is_dir():
        files = _read_folder(path)
    elif path.suffix == ".zip":
        files = _read_zip(path)
    elif _exercise_name(path.name):
        files = {path.name: path.read_bytes()}
    else:
        raise SubmissionError(f"{path} is not a folder, a zip or an exercise file")
    name = submission_id or (path.stem if path.is_file() else path.resolve().name)
    return Submission(id=SAFE_ID.sub("_", name) or "submission", source=path, files=files)


def discover(paths: list[Path]) -> list[Submission]:
    """One submission per path that is one; a folder of submissions gives one per entry."""
    found: list[Submission] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SubmissionError(f"{path} does not exist")
        if is_submission(path):
            found.append(load(path))
            continue
        if not path.is_dir():
            raise SubmissionError(f"{path} is not a submission (no exercise files)")
        entries = [p for p in sorted(path.iterdir()) if p.is_dir() or p.suffix == ".zip"]
        entries = [p for p in entries if not p.name.startswith(".")]
        if not entries:
            raise SubmissionError(
                f"{path} holds no submissions (no exercise files, folders or zips)"
            )
        for entry in entries:
            try:
                found.append(load(entry))
            except SubmissionError as exc:
                name = SAFE_ID.sub("_", entry.stem if entry.is_file() else entry.name)
                found.append(Submission(id=name or "submission", source=entry, error=str(exc)))
    return found


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


def stage(submission: Submission, dest: Path) -> Path:
    """Write the submission's exercise files as ``.py`` into ``dest`` (a ``.py`` wins)."""
    dest.mkdir(parents=True, exist_ok=True)
    for module in EXPECTED:
        py, ipynb = submission.files.get(module + ".py"), submission.files.get(module + ".ipynb")
        if py is not None:
            (dest / f"{module}.py").write_bytes(py)
        elif ipynb is not None:
            text = notebook_to_source(ipynb, module + ".ipynb")
            (dest / f"{module}.py").write_text(text, encoding="utf-8")
    return dest
