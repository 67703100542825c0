"""RFC 8785 canonical bytes, statements and entries."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import canonical
from ledger.errors import InputError

MAX_SAFE = 2**53 - 1
PROPS = settings(max_examples=200, deadline=None)

any_text = st.text(max_size=20)  # every code point except lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=30,
)
# values the fast path (json.dumps) serializes: no floats, safe ints, ASCII keys
fast_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE, MAX_SAFE) | any_text,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@PROPS
@given(json_values)
def test_canonicalize_equals_rfc8785(value: Any) -> None:
    assert canonical.canonicalize(value) == rfc8785.dumps(value)


@PROPS
@given(fast_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical._fast_path_safe(value)
    out = canonical.canonicalize(value)
    assert out == rfc8785.dumps(value)
    assert canonical.from_canonical(out) == value


@PROPS
@given(st.dictionaries(any_text, json_values, max_size=6))
def test_key_order_does_not_matter(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical.canonicalize(reordered) == canonical.canonicalize(value)


def test_rfc8785_section_3_2_2_example() -> None:
    value = json.loads(
        r'{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
        r'"string":"\u20ac$\u000F\u000aA\u0027\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}'
    )
    expected = (
        r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        r'"string":"€$\u000f\nA' + "'" + r'B\"\\\\\"/"}'
    )
    assert canonical.canonicalize(value) == expected.encode()


def test_non_ascii_keys_sort_by_utf16_code_units() -> None:
    # U+10000 is D800 DC00 in UTF-16, so it sorts before U+FFFD although its code point is larger
    value = {"\ufffd": 1, "\U00010000": 2, "a": 3, "é": 4}
    assert canonical.canonicalize(value) == '{"a":3,"é":4,"\U00010000":2,"\ufffd":1}'.encode()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param({"q": float("inf")}, id="inf"),
        pytest.param({"s": "ok \ud800"}, id="lone-surrogate-value"),
        pytest.param({"\udc00": 1}, id="lone-surrogate-key"),
        pytest.param({"n": 2**53}, id="int-2^53-fast-path-rejects"),
        pytest.param({"x": 1.5, "n": -(2**60)}, id="big-int-with-float"),
        pytest.param([2**64], id="int-2^64"),
        pytest.param({1: "a"}, id="non-string-key"),
        pytest.param({"o": object()}, id="not-json"),
    ],
)
def test_values_without_canonical_form_raise_input_error(value: Any) -> None:
    with pytest.raises(InputError, match="cannot be canonicalized as RFC 8785 JSON"):
        canonical.canonicalize(value)


def test_largest_safe_int_is_fine() -> None:
    assert canonical.canonicalize([MAX_SAFE, -MAX_SAFE]) == b"[9007199254740991,-9007199254740991]"


def test_from_canonical_rejects_bad_json() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        canonical.from_canonical(b'{"a":')
    with pytest.raises(InputError, match="not valid JSON"):
        canonical.from_canonical(b"\xff")


# --- statements and entries ---------------------------------------------------------------

EVENT = {"type": "ObjectEvent", "bizStep": "packing", "eventTime": "2026-07-02T06:30:00+07:00"}


def _stmt(**over: Any) -> dict[str, Any]:
    stmt = canonical.statement(lot="08930000045676.A1", seq=0, prev=None, event=EVENT, signer="ed25519:" + "0" * 64)
    stmt.update(over)
    return stmt


def test_statement_shape_and_bytes() -> None:
    stmt = _stmt()
    assert set(stmt) == canonical.STATEMENT_KEYS
    assert stmt["v"] == canonical.STATEMENT_VERSION == 1
    data = canonical.statement_bytes(stmt)
    assert data.startswith(b'{"event":{"bizStep":"packing"')
    assert b'"prev":null' in data and b'"v":1}' in data
    assert canonical.statement_bytes(dict(reversed(list(stmt.items())))) == data


def test_statement_with_wrong_fields_is_refused() -> None:
    with pytest.raises(InputError, match=r"statement has wrong fields: expected \['event', 'lot', .*got .*'sig'"):
        canonical.statement_bytes(_stmt(sig="x"))
    stmt = _stmt()
    del stmt["prev"]
    with pytest.raises(InputError, match="statement has wrong fields"):
        canonical.statement_bytes(stmt)


def test_statement_version_is_checked() -> None:
    with pytest.raises(InputError, match="unsupported statement version: expected 1, got 2"):
        canonical.statement_bytes(_stmt(v=2))


def test_entry_bytes_and_split() -> None:
    stmt = _stmt()
    ent = canonical.entry(stmt, "c2ln")
    assert set(ent) == canonical.ENTRY_KEYS
    assert canonical.entry_bytes(ent) == rfc8785.dumps(ent)
    assert canonical.split_entry(ent) == (stmt, "c2ln")
    with pytest.raises(InputError, match="entry has wrong fields"):
        canonical.entry_bytes(stmt)
    with pytest.raises(InputError, match="entry has no signature"):
        canonical.split_entry(stmt)
    with pytest.raises(InputError, match="entry has no signature"):
        canonical.split_entry({**stmt, "sig": None})


@PROPS
@given(
    event=st.dictionaries(any_text, json_values, max_size=6),
    lot=any_text,
    seq=st.integers(min_value=0, max_value=2**53 - 1),
    prev=st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    signer=any_text,
    sig=any_text,
)
def test_canonical_statement_assembles_the_same_bytes(
    event: dict[str, Any], lot: str, seq: int, prev: str | None, signer: str, sig: str
) -> None:
    """The append path's one-pass assembly equals canonicalizing the whole statement and entry."""
    stmt = canonical.statement(lot=lot, seq=seq, prev=prev, event=event, signer=signer)
    cs = canonical.CanonicalStatement(stmt)
    assert cs.bytes == canonical.statement_bytes(stmt) == rfc8785.dumps(stmt)
    assert cs.entry_bytes(sig) == canonical.entry_bytes(canonical.entry(stmt, sig))
    assert cs.event_bytes == rfc8785.dumps(event)


def test_canonical_statement_checks_fields_and_version() -> None:
    stmt = canonical.statement(lot="x", seq=0, prev=None, event={}, signer="k")
    with pytest.raises(InputError, match="wrong fields"):
        canonical.CanonicalStatement({**stmt, "extra": 1})
    with pytest.raises(InputError, match="unsupported statement version"):
        canonical.CanonicalStatement({**stmt, "v": 2})
