"""The ``gradebook`` table of the course configuration, checked key by key; an error names
the file, the line and the key (``grader.toml:7: gradebook.due: ... has no time zone``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grader.course.config import TOP_LEVEL_KEYS, _Reader, course_table
from grader.gradebook.policy import (
    KEYS,
    LATE_KEYS,
    MISSING,
    PERIODS,
    UTC,
    GradebookError,
    LatePenalty,
    Policy,
    named_zone,
    parse_time,
)
from grader.gradebook.records import key_line


class _Table(_Reader):
    """The course configuration's checks, with the line of the key in every error."""

    def __init__(self, source: str | None, prefix: str):
        super().__init__(source or "the defaults", f"{prefix}gradebook.")
        self.toml = Path(source).read_text(encoding="utf-8") if source else ""

    def where(self, key: str) -> str:
        dotted = f"{self.prefix}{key}"
        line = key_line(self.toml, dotted) if self.toml else None
        return f"{self.source}:{line}: {dotted}" if line else f"{self.source}: {dotted}"

    def fail(self, key: str, problem: str):
        raise GradebookError(f"{self.where(key)}: {problem}")

    def text(self, table: dict, name: str, default=None, choices=None) -> str | None:
        value = table.get(name, default)
        if value is default:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and name.endswith("_id"):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"expected text, got {value!r}")
        if choices and value not in choices:
            self.fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value


def parse(table, *, source: str | None, prefix: str = "") -> Policy:
    """The :class:`Policy` the ``gradebook`` table of ``source`` describes."""
    read = _Table(source, prefix)
    read.table(table, "", KEYS)
    zone_name = read.text(table, "timezone")
    zone = None if zone_name is None else named_zone(zone_name, read.where("timezone"))

    def when(name: str) -> dt.datetime | None:
        if name not in table:
            return None
        return parse_time(table[name], read.where(name), zone, hint=", or set gradebook.timezone")

    due, hard = when("due"), when("hard_deadline")
    if hard is not None and due is None:
        read.fail("hard_deadline", "a hard deadline needs a due date")
    if hard is not None and hard.astimezone(UTC) < due.astimezone(UTC):
        read.fail("hard_deadline", "is before the due date")
    late = None
    if "late" in table:
        raw = read.table(table["late"], "late", LATE_KEYS)
        if raw.get("per", "day") not in PERIODS:
            read.fail("late.per", f"expected day or hour, got {raw['per']!r}")
        late = LatePenalty(
            per=raw.get("per", "day"),
            **{
                name: read.number(raw[name], f"late.{name}")
                for name in ("penalty_percent", "cap_percent", "grace_minutes")
                if name in raw
            },
        )
        if due is None:
            read.fail("late", "a late penalty needs a due date")
    base = Path(source).parent if source else Path.cwd()

    def path(name: str) -> Path | None:
        value = read.text(table, name)
        return None if value is None else base / value

    return Policy(
        assignment=read.text(table, "assignment", Policy.assignment),
        canvas_assignment_id=read.text(table, "canvas_assignment_id"),
        timezone=zone_name,
        due=due,
        hard_deadline=hard,
        late=late,
        missing=read.text(table, "missing", "zero", choices=MISSING),
        roster_id=read.text(table, "roster_id"),
        extensions=path("extensions"),
        overrides=path("overrides"),
        source=source,
    )


def load(path: Path | None = None, *, search: Path | None = None) -> Policy:
    """Only the ``gradebook`` table (due date, late penalty, extensions, overrides, roster) of
    the course file :func:`grader.course.config.load` reads, as a :class:`Policy`; its errors
    name the file and the line (``grader.toml:7: gradebook.due: ... has no time zone``)."""
    found = course_table(path, search)
    if found is None:
        return Policy()
    data, source, prefix = found
    _Reader(source, prefix).table(data, "", TOP_LEVEL_KEYS)
    return parse(data.get("gradebook", {}), source=source, prefix=prefix)
