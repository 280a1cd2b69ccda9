"""Reading the TA's files (roster, times, extensions, overrides) as records that know
their file and line, so that every error can say where to look."""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.gradebook.policy import GradebookError


@dataclass
class Record:
    fields: dict[str, str | object]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def fail(self, problem: str):
        raise GradebookError(f"{self.where}: {problem}")

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None else str(value).strip()


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GradebookError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GradebookError(f"{path}: cannot be read: {exc}") from None


def csv_records(path: Path, *, required: tuple[str, ...] = ()) -> list[Record]:
    """The rows of a CSV file with a header, each with its line number (blank rows left out)."""
    text = read_text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames or []
    header = [name.strip() for name in header]
    reader.fieldnames = header
    missing = [name for name in required if name not in header]
    if missing:
        raise GradebookError(
            f"{path}:1: the header needs the column(s) {', '.join(missing)}; "
            f"it has {', '.join(header) or 'none'}"
        )
    records = []
    for row in reader:
        cells = [v for v in row.values() if isinstance(v, str)]
        start = reader.line_num - sum(v.count("\n") for v in cells)
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        if None in row:
            raise GradebookError(f"{path}:{start}: more cells than the header has columns")
        records.append(Record(dict(row), str(path), start))
    return records


def toml_records(path: Path, name: str) -> list[Record]:
    """The ``[[name]]`` tables of a TOML file, each with the line of its header."""
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GradebookError(f"{path}: not valid TOML: {exc}") from None
    unknown = [key for key in data if key != name]
    if unknown:
        raise GradebookError(
            f"{path}:{key_line(text, unknown[0]) or 1}: unknown key {unknown[0]!r}; "
            f"write each entry as a [[{name}]] table"
        )
    tables = data.get(name, [])
    if not isinstance(tables, list):
        raise GradebookError(f"{path}: {name} must be [[{name}]] tables")
    headers = [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if re.match(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]", line)
    ]
    headers += [0] * (len(tables) - len(headers))
    return [Record(table, str(path), line) for table, line in zip(tables, headers, strict=True)]


def records(path: Path, name: str, *, required: tuple[str, ...] = ()) -> list[Record]:
    """A CSV file's rows, or a ``.toml`` file's ``[[name]]`` tables."""
    path = Path(path)
    if path.suffix == ".toml":
        found = toml_records(path, name)
        for record in found:
            absent = [key for key in required if key not in record.fields]
            if absent:
                record.fail(f"[[{name}]] needs {', '.join(absent)}")
        return found
    return csv_records(path, required=required)


def key_line(text: str, dotted: str) -> int | None:
    """The line where TOML ``text`` sets the key ``dotted`` (``tool.grader.gradebook.due``):
    the key's line inside its table, else the table's header; ``None`` if neither is found."""
    *table, key = [part.strip('"') for part in dotted.split(".")]
    current, header_line = [], None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]", stripped)
        if header:
            current = [part.strip().strip('"') for part in header[1].split(".")]
            if current == [*table, key]:
                header_line = number
            continue
        assignment = re.match(r'^("?[\w.-]+"?)\s*=', stripped)
        if assignment:
            path = current + [part.strip('"') for part in assignment[1].split(".")]
            if path[: len(table) + 1] == [*table, key]:
                return number
    return header_line
