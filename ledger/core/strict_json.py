"""Strict JSON for signed data: one reading of a document, or a ``format`` failure naming the place.

CONSENSUS-CRITICAL: two verifiers must never read one bundle two ways. ``loads`` accepts exactly
UTF-8 JSON text (RFC 8259, I-JSON RFC 7493 restrictions) and refuses, with a
``VerificationError`` (check ``format``) whose message names the byte offset or the JSON path:

* a byte order mark (UTF-8, UTF-16 or UTF-32) or text that is not UTF-8 (UTF-16 without a BOM too);
* a duplicate key in any object (a first-wins and a last-wins parser would read different values);
* an integer outside ±(2^53 − 1) (JavaScript and many JSON libraries would round it), and
  ``NaN`` / ``Infinity``;
* nesting deeper than ``MAX_DEPTH`` (checked before parsing, so no parser recursion can overflow).

Pure: bytes in, plain values out.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ledger.errors import VerificationError

MAX_SAFE_INT = 2**53 - 1
MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def fail(message: str) -> VerificationError:
    return VerificationError(message, check="format")


def loads(data: bytes | bytearray | str, what: str = "the bundle") -> Any:
    """The one reading of ``data`` as strict JSON (see the module docstring)."""
    text = decode(bytes(data) if not isinstance(data, str) else data.encode("utf-8", "surrogatepass"), what)
    check_depth(text, what)
    dups: dict[int, list[str]] = {}
    try:
        value = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, dups), parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise fail(f"{what} is not usable JSON: {exc}") from None
    check_values(value, dups, "$")
    return value


def decode(data: bytes, what: str = "the bundle") -> str:
    """UTF-8 text without a byte order mark."""
    for bom, name in BOMS:
        if data.startswith(bom):
            raise fail(f"{what} starts with a {name} byte order mark: expected UTF-8 JSON without a BOM")
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        raise fail(f"{what} looks like UTF-16 or UTF-32 (a zero byte at the start): expected UTF-8 JSON")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} is not UTF-8: byte {exc.start} (0x{data[exc.start]:02x}) {exc.reason}") from None


def check_depth(text: str, what: str = "the bundle") -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` before any recursive parser sees the text."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise fail(f"{what} nests too deep: expected at most {MAX_DEPTH} levels")


def _object(pairs: list[tuple[str, Any]], dups: dict[int, list[str]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            dups.setdefault(id(obj), []).append(key)
        obj[key] = value
    return obj


def _constant(name: str) -> Any:
    raise fail(f"JSON has {name}: expected a finite number")


def check_values(value: Any, dups: dict[int, list[str]], path: str) -> None:
    """Duplicate keys and out-of-range numbers, reported at their JSON path (``$.chains[0].entries[2]``)."""
    if isinstance(value, dict):
        if id(value) in dups:
            raise fail(f"duplicate key {dups[id(value)][0]!r} in the object at {path}")
        for key, item in value.items():
            check_values(item, dups, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_values(item, dups, f"{path}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        raise fail(f"integer out of range at {path}: expected |n| <= 2^53 - 1, got {value}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise fail(f"number out of range at {path}: got {value}")
