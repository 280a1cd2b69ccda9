"""The course's late policy, read from the ``gradebook`` table of the course configuration,
and the arithmetic that turns a raw score and a submission time into a final score.

Dates carry a time zone: a TOML offset date-time (``2026-03-06T23:59:00-05:00``), or a local
one with the table's ``timezone`` (an IANA name such as ``America/New_York``). A date without
either is an error, as is a local time that a daylight-saving change skips or repeats.
Lateness is measured in real elapsed time; an extension of whole days moves the deadline on
the course's calendar (23:59 stays 23:59 across a clock change).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
PERIODS = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1)}
MISSING = ("zero", "blank")
KEYS = (
    "assignment",
    "canvas_assignment_id",
    "timezone",
    "due",
    "hard_deadline",
    "missing",
    "roster_id",
    "extensions",
    "overrides",
    "late",
)
LATE_KEYS = ("per", "penalty_percent", "cap_percent", "grace_minutes")


class GradebookError(ValueError):
    """A gradebook input (policy, roster, times, extensions, overrides) the grader cannot use;
    the message names the file and, where there is one, the line."""


@dataclass(frozen=True)
class LatePenalty:
    per: str = "day"
    """Lateness is counted in started days or started hours."""
    penalty_percent: float = 0.0
    """Points off per started period, as a percent of the points possible (as Canvas does)."""
    cap_percent: float | None = None
    """At most this percent of the points possible off in all."""
    grace_minutes: float = 0.0
    """A submission at most this late counts as on time."""


@dataclass(frozen=True)
class Policy:
    assignment: str = "PyTorch exercises"
    canvas_assignment_id: str | None = None
    timezone: str | None = None
    due: dt.datetime | None = None
    hard_deadline: dt.datetime | None = None
    """No credit for a submission after this (moved by an extension as the due date is)."""
    late: LatePenalty | None = None
    missing: str = "zero"
    """What a roster student without a submission gets: ``zero`` or ``blank``."""
    roster_id: str | None = None
    extensions: Path | None = None
    overrides: Path | None = None
    source: str | None = None

    @property
    def zone(self) -> dt.tzinfo:
        """The course's calendar (UTC where it names none: dates then carry offsets)."""
        return ZoneInfo(self.timezone) if self.timezone else UTC

    def column(self) -> str:
        """The assignment's column header (Canvas matches ``Name (id)`` to an assignment)."""
        if self.canvas_assignment_id:
            return f"{self.assignment} ({self.canvas_assignment_id})"
        return self.assignment


@dataclass(frozen=True)
class Lateness:
    """What the policy made of one submission time."""

    late_by: dt.timedelta
    """How long after the deadline (zero when on time)."""
    rule: str
    """``no_due_date``, ``no_time``, ``on_time``, ``grace``, ``late``, ``late_capped``,
    ``late_no_penalty``, ``hard_deadline``."""
    periods: int = 0
    penalty: float = 0.0
    """Points off."""
    no_credit: bool = False
    notes: list[str] = field(default_factory=list)


def assess(
    submitted: dt.datetime | None,
    due: dt.datetime | None,
    *,
    max_score: float,
    late: LatePenalty | None,
    hard_deadline: dt.datetime | None = None,
) -> Lateness:
    """Lateness and penalty of a submission at ``submitted`` against ``due``.

    Exactly on the deadline is on time. Any started period counts whole: one second late is
    one day (or hour) late, unless it falls within the grace period.
    """
    if due is None:
        return Lateness(dt.timedelta(0), "no_due_date")
    if submitted is None:  # a score given by override to a student with no submission
        return Lateness(dt.timedelta(0), "no_time")
    # In UTC: Python subtracts and compares two times of one zone object by their wall clocks.
    submitted, due = submitted.astimezone(UTC), due.astimezone(UTC)
    hard_deadline = hard_deadline.astimezone(UTC) if hard_deadline is not None else None
    late_by = max(submitted - due, dt.timedelta(0))
    if hard_deadline is not None and submitted > hard_deadline:
        return Lateness(late_by, "hard_deadline", no_credit=True)
    if late_by == dt.timedelta(0):
        return Lateness(late_by, "on_time")
    if late is None:
        return Lateness(late_by, "late_no_penalty")
    if late_by <= dt.timedelta(minutes=late.grace_minutes):
        return Lateness(late_by, "grace")
    periods = math.ceil(late_by / PERIODS[late.per])
    percent = periods * late.penalty_percent
    rule = "late"
    if late.cap_percent is not None and percent > late.cap_percent:
        percent, rule = late.cap_percent, "late_capped"
    return Lateness(late_by, rule, periods=periods, penalty=rounded(max_score * percent / 100))


def final_score(raw: float, lateness: Lateness) -> float:
    """The raw score less the penalty, never below zero; zero after the hard deadline."""
    if lateness.no_credit:
        return 0
    return rounded(max(raw - lateness.penalty, 0))


def rounded(value: float) -> float:
    value = round(value, 4)
    return int(value) if value == int(value) else value


def shift(when: dt.datetime, zone: dt.tzinfo, delta: dt.timedelta, where: str) -> dt.datetime:
    """``when`` moved by ``delta`` on the wall clock of ``zone`` (a 2-day extension of a
    23:59 deadline is 23:59 two days later, whatever the clocks did in between)."""
    local = when.astimezone(zone).replace(tzinfo=None) + delta
    return localize(local, zone, where)


def localize(naive: dt.datetime, zone: dt.tzinfo, where: str) -> dt.datetime:
    """``naive`` as a time in ``zone``; one the clocks skip or repeat there is an error."""
    first, second = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise GradebookError(
            f"{where}: {naive:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks go forward)"
        )
    if first.utcoffset() != second.utcoffset():
        raise GradebookError(
            f"{where}: {naive:%Y-%m-%d %H:%M} happens twice in {zone} (the clocks go back); "
            "give the offset, e.g. 2026-11-01T01:30:00-05:00"
        )
    return first


_ZONE_SUFFIX = re.compile(r"^(?P<when>.+?)\s+(?P<zone>[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+|UTC)$")


def parse_time(value, where: str, zone: dt.tzinfo | None = None, *, hint: str = "") -> dt.datetime:
    """A date-time with a time zone: a TOML date-time, or text in ISO 8601 (``Z`` or an offset,
    or a zone name after a space: ``2026-03-06 23:59 America/New_York``). A local time takes
    ``zone`` where one is given; without one it is an error."""
    if isinstance(value, str):
        text = value.strip()
        match = _ZONE_SUFFIX.match(text)
        if match:
            text, zone = match["when"], named_zone(match["zone"], where)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise GradebookError(
                f"{where}: {value!r} is not a date and time (e.g. 2026-03-06T23:59:00-05:00)"
            ) from None
    if not isinstance(value, dt.datetime):
        raise GradebookError(f"{where}: {value!r} is a date without a time and a time zone")
    if value.tzinfo is not None:
        return value
    if zone is None:
        raise GradebookError(
            f"{where}: {value.isoformat()} has no time zone: add an offset "
            f"(-05:00, Z) or a zone name (2026-03-06 23:59 America/New_York){hint}"
        )
    return localize(value, zone, where)


def named_zone(name, where: str) -> dt.tzinfo:
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise GradebookError(f"{where}: unknown time zone {name!r} (e.g. Europe/Berlin)") from None


def describe(delta: dt.timedelta) -> str:
    """``1 d 2 h 3 min 4 s``: a duration the way a person reads it."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts)
