"""ledger.core.bounds: JSON depth before parsing, clean stored text, bounded nesting, supported dates."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core import bounds
from ledger.errors import InputError


def reference_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


_json = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\ab', max_size=6)),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), kids)),
    max_leaves=40,
)


@given(_json)
def test_depth_scan_matches_the_parsed_depth(value: object) -> None:
    assert bounds.json_depth(json.dumps(value).encode()) >= reference_depth(value)  # the quick bound
    padded = ["[" * 100 + "{" * 100, value]  # enough brackets to force the full scan
    assert bounds.json_depth(json.dumps(padded).encode()) == reference_depth(padded)


@pytest.mark.parametrize("depth", [65, 1000, 70_000])
def test_deep_text_is_refused_before_parsing(depth: int) -> None:
    with pytest.raises(InputError, match=f"expected at most 64 levels, got {depth}"):
        bounds.loads(b"[" * depth + b"]" * depth)
    with pytest.raises(InputError, match="nests too deep"):
        bounds.loads('{"a":' * depth + "1" + "}" * depth)


def test_brackets_in_strings_and_escaped_quotes_do_not_count() -> None:
    text = json.dumps({"s": "[" * 500 + '\\"' + "{" * 500, "t": ['"]]]]'] * 3})
    assert bounds.json_depth(text.encode()) == 2
    assert bounds.loads(text)["t"] == ['"]]]]'] * 3


def test_invalid_json_is_an_input_error() -> None:
    with pytest.raises(InputError, match="bundle is not valid JSON"):
        bounds.loads(b"{", where="bundle")


def test_depth_scan_survives_a_high_recursion_limit() -> None:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(InputError, match="nests too deep"):
            bounds.loads(b"[" * 70_000 + b"]" * 70_000)
    finally:
        sys.setrecursionlimit(before)


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1b", "\x7f", "\x85", "\x9f", "\ud800", "\udfff", "\ufffe"])
def test_control_characters_are_refused(char: str) -> None:
    with pytest.raises(InputError, match=f"U\\+{ord(char):04X} at position 2"):
        bounds.check_text(f"ab{char}", "name")
    with pytest.raises(InputError, match="ilmd.k"):
        bounds.check_value({"ilmd": {"k": [f"ab{char}"]}}, "event")


def test_tab_and_newline_only_in_free_text() -> None:
    assert bounds.check_text("a\tb\nc", "note", free_text=True) == "a\tb\nc"
    bounds.check_value({"ocop:note": "a\nb"}, "event")
    with pytest.raises(InputError, match="event.name"):
        bounds.check_value({"name": "a\nb"}, "event")
    with pytest.raises(InputError, match="U\\+000D"):
        bounds.check_text("a\rb", "note", free_text=True)
    assert bounds.check_text("Thanh long ruột đỏ — 4★", "name")


def test_value_depth_is_bounded() -> None:
    value: object = 1
    for _ in range(bounds.MAX_VALUE_DEPTH):
        value = [value]
    bounds.check_value(value, "v")
    with pytest.raises(InputError, match="nests too deep: expected at most 32"):
        bounds.check_value([value], "v")


@pytest.mark.parametrize(
    "t",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1899, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1900, 1, 1, 5, tzinfo=timezone(timedelta(hours=7))),
    ],
)
def test_times_outside_the_supported_range(t: datetime) -> None:
    with pytest.raises(InputError, match=r"expected a time in the years 1900\.\.9999 \(UTC\)"):
        bounds.check_datetime(t, "eventTime")


def test_times_and_dates_inside_the_range() -> None:
    t = datetime(1900, 1, 1, tzinfo=UTC)
    assert bounds.check_datetime(t, "eventTime") is t
    assert bounds.check_date(date(9999, 12, 31), "d") == date(9999, 12, 31)
    with pytest.raises(InputError, match="years 1900..9999, got 0001-01-01"):
        bounds.check_date(date(1, 1, 1), "harvest_start")
