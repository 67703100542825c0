"""What every file the exporters write goes through: spreadsheet cells, PDF text and UTC times.

Partner files are built from whatever the ledger holds, and an old ledger (or one written before
the append path refused such strings) may hold anything a JSON string can: control characters,
markup, text that a spreadsheet reads as a formula, times whose UTC form is outside ``datetime``.
An export must neither fail on them nor pass them on as something live, so:

- ``clean_text``: characters that XML 1.0 (XLSX, PDF markup) cannot carry — C0 controls other
  than tab, LF and CR, lone surrogates, U+FFFE and U+FFFF — become U+FFFD (the replacement
  character), so the reader sees that something was there;
- ``sheet_cell``: the one value written into a CSV or XLSX cell (OWASP "CSV Injection"): numbers
  stay numbers; text is cleaned and, when a spreadsheet would read it as a formula (it starts
  with ``=``, ``+``, ``-``, ``@``, tab, CR or LF, also after leading spaces or in full-width
  form), prefixed with a single quote; text beyond a cell's 32,767 characters (Excel's limit,
  past which it calls the file corrupt) is cut and ends with "…";
- ``pdf_text``: text for ReportLab paragraph markup: cleaned and fully XML-escaped, so any string
  renders literally;
- ``utc_iso``: an aware time in UTC as ISO 8601 text, also when UTC falls in year 0 or 10000.

Pure: no database, web or chain imports.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
"""First characters that make a spreadsheet evaluate a cell (ASCII and full-width forms)."""
MAX_CELL = 32767
_ATTR_QUOTES = {'"': "&quot;", "'": "&#39;"}
_CYCLE = timedelta(days=146097)  # 400 Gregorian years: same calendar, so the shift is exact


def clean_text(value: str) -> str:
    """``value`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _UNSAFE.sub(REPLACEMENT, value)


def is_number(value: Any) -> bool:
    """A real number a sheet should keep numeric (not a bool, not NaN or infinite)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sheet_cell(value: Any) -> str | int | float | None:
    """A value made safe for a CSV or XLSX cell: numbers as they are, anything else as inert text."""
    if value is None or is_number(value):
        return value  # type: ignore[no-any-return]
    text = clean_text(str(value))
    if text.lstrip(" ")[:1] in FORMULA_START:
        text = "'" + text
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def pdf_text(value: Any) -> str:
    """``value`` as ReportLab paragraph markup that renders exactly as the text (quotes escaped too)."""
    return escape(clean_text(str(value)), _ATTR_QUOTES)


def utc_iso(t: datetime) -> str:
    """``t`` (aware) in UTC as ``YYYY-MM-DDTHH:MM:SS``, also when the UTC year falls outside 1..9999.

    ``datetime`` holds years 1..9999 only, so ``0001-01-01T00:00:00+14:00`` (UTC: year 0) cannot be
    converted directly; the time is moved by a whole 400-year cycle (the same calendar), converted,
    and the year written back. Years are always four digits (``strftime`` drops leading zeros).
    """
    shift = 0
    try:
        u = t.astimezone(UTC)
    except OverflowError:
        shift = 1 if t.year < 5000 else -1
        u = (t + shift * _CYCLE).astimezone(UTC)
    return f"{u.year - shift * 400:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
