"""What the ledger accepts from outside, bounded so that every reader can serve it (pure).

Three rules, applied once where untrusted data comes in:

* JSON nesting depth is bounded *before* any parser sees the bytes (``check_json_depth``,
  ``loads``): the C JSON decoder recurses on the C stack, and once a library has raised the
  recursion limit (py_ecc sets 100,000), a body of 70,000 ``[`` crashes the process.
* Stored strings hold no control characters (``check_text``, ``check_value``): no C0 (U+0000 to
  U+001F), DEL, C1 (U+0080 to U+009F), lone surrogates or the non-characters U+FFFE/U+FFFF,
  which XML (XLSX, EPCIS), PDF and PostgreSQL text cannot hold. Free-text notes (``ocop:note``)
  may also hold tab and line feed.
* Stored values nest at most ``MAX_VALUE_DEPTH`` deep, and times lie in years 1900..9999 in UTC.
"""

from __future__ import annotations

import json
import re
from array import array
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Any

from ledger.errors import InputError

MAX_JSON_DEPTH = 64
"""Deepest JSON document any entry point parses (a batch or an EPCIS document wraps events)."""
MAX_VALUE_DEPTH = 32
"""Deepest stored value (an event, its ``ilmd``): a GeoJSON polygon in ilmd needs 6."""
MIN_YEAR, MAX_YEAR = 1900, 9999

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_CONTROL_FREE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
FREE_TEXT_KEYS = frozenset({"ocop:note"})
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[`` / ``{`` in JSON text, brackets inside strings not counted.

    A linear scan with no recursion. Exact whenever the text holds more than ``MAX_JSON_DEPTH``
    opening brackets; with fewer it returns their count, an upper bound. For text that is not JSON
    it errs on the deep side (an unterminated string counts its brackets)."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return data.count(b"[") + data.count(b"{")
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data)).translate(_STEP)
    return max(accumulate(array("b", brackets), initial=0))  # +1 / -1 as signed bytes, summed in C


def check_json_depth(data: bytes | str, limit: int = MAX_JSON_DEPTH, *, where: str = "body") -> None:
    """Raise ``InputError`` when JSON text nests deeper than ``limit``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    depth = json_depth(raw)
    if depth > limit:
        raise InputError(f"{where} nests too deep: expected at most {limit} levels, got {depth}", field=where)


def loads(data: bytes | str, *, where: str = "body", limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` of untrusted text, its depth bounded first; errors are ``InputError``."""
    check_json_depth(data, limit, where=where)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{where} is not valid JSON: {exc}", field=where) from exc


def check_text(value: str, where: str, *, free_text: bool = False) -> str:
    """Return ``value`` if it holds no control character, else raise ``InputError`` naming it."""
    bad = (_CONTROL_FREE_TEXT if free_text else _CONTROL).search(value)
    if bad is not None:
        allowed = " (tab and line feed are allowed here)" if free_text else ""
        raise InputError(
            f"{where}: expected text without control characters{allowed}, "
            f"got U+{ord(bad.group()):04X} at position {bad.start()}",
            field=where,
        )
    return value


def check_value(value: Any, where: str, *, max_depth: int = MAX_VALUE_DEPTH) -> None:
    """Every string (keys too) of a JSON value is clean, and it nests at most ``max_depth`` deep."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        v, at, depth = stack.pop()
        if isinstance(v, str):
            check_text(v, at, free_text=at.rsplit(".", 1)[-1] in FREE_TEXT_KEYS)
        elif isinstance(v, dict | list):
            if depth > max_depth:
                short = at if len(at) <= 80 else at[:80] + "…"
                raise InputError(f"{short} nests too deep: expected at most {max_depth} levels", field=short)
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, item in items:
                if isinstance(k, str):
                    check_text(k, f"{at} (a key)")
                stack.append((item, f"{at}.{k}", depth + 1))


def check_datetime(t: datetime, where: str) -> datetime:
    """A timezone-aware time whose UTC instant lies in years ``MIN_YEAR``..``MAX_YEAR``."""
    try:
        year = t.astimezone(UTC).year
    except OverflowError:  # the UTC instant falls before year 1 or after 9999
        year = 0
    if not MIN_YEAR <= year <= MAX_YEAR or not MIN_YEAR <= t.year <= MAX_YEAR:
        raise InputError(
            f"{where}: expected a time in the years {MIN_YEAR}..{MAX_YEAR} (UTC), got {t.isoformat()}", field=where
        )
    return t


def check_date(d: date, where: str) -> date:
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise InputError(
            f"{where}: expected a date in the years {MIN_YEAR}..{MAX_YEAR}, got {d.isoformat()}", field=where
        )
    return d
