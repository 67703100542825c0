"""Strict reading of bundles (issue 11 item 6): one reading of every file, or ``format`` naming the place.

Each case starts from a valid bundle of ``data/bundles/valid`` (which verifies as bytes too) and
adds exactly one thing a lenient reader would let through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.core import strict_json
from ledger.core.bundle import verify_bundle
from ledger.errors import VerificationError
from tests.core.test_bundle_cases import StubChain

VALID = Path(__file__).parent / "data" / "bundles" / "valid"


def case(name: str) -> tuple[dict[str, Any], StubChain]:
    doc = json.loads((VALID / name).read_text())
    return doc["bundle"], StubChain(doc["chain"])


def dumps(bundle: Any) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode()


def failure(raw: bytes, chain: StubChain) -> dict[str, Any]:
    report = verify_bundle(raw, chain)
    assert report.verdict == "tampered"
    assert report.failure is not None and report.failure["check"] == "format"
    assert report.checks["format"] == "failed"
    return report.failure


@pytest.mark.parametrize("name", sorted(p.name for p in VALID.glob("*.json")))
def test_valid_bundles_verify_from_their_bytes(name: str) -> None:
    bundle, chain = case(name)
    doc = json.loads((VALID / name).read_text())
    report = verify_bundle(dumps(bundle), chain, contract=doc["chain"].get("pin"))
    assert report.verdict == "verified", report.failure


@pytest.mark.parametrize(
    ("prefix", "named"),
    [(b"\xef\xbb\xbf", "UTF-8 byte order mark"), (b"\xff\xfe", "UTF-16 byte order mark")],
)
def test_a_byte_order_mark_is_refused(prefix: bytes, named: str) -> None:
    bundle, chain = case("v1-lot.json")
    assert named in failure(prefix + dumps(bundle), chain)["message"]


def test_utf16_without_bom_and_invalid_utf8_are_refused() -> None:
    bundle, chain = case("v1-lot.json")
    text = json.dumps(bundle)
    assert "UTF-16 or UTF-32" in failure(text.encode("utf-16-le"), chain)["message"]
    bad = dumps(bundle).replace(b'"format"', b'"form\xc3at"', 1)
    assert "not UTF-8: byte" in failure(bad, chain)["message"]


def test_a_duplicate_key_inside_a_signed_event_is_refused_at_its_path() -> None:
    bundle, chain = case("v2-lot-with-upstream-input-lot.json")
    raw = dumps(bundle)
    event = json.dumps(bundle["chains"][0]["entries"][0]["entry"]["event"], ensure_ascii=False)
    assert event.startswith("{")
    doubled = event[:-1] + ', "type": "ObjectEvent"}'
    raw = raw.replace(event.encode(), doubled.encode(), 1)
    msg = failure(raw, chain)["message"]
    assert "duplicate key 'type' in the object at $.chains[0].entries[0].entry.event" in msg


def test_an_integer_beyond_2_53_is_refused_at_its_path() -> None:
    bundle, chain = case("v1-lot.json")
    bundle["entries"][0]["index"] = 2**53
    assert "integer out of range at $.entries[0].index" in failure(dumps(bundle), chain)["message"]


@pytest.mark.parametrize(
    ("name", "edit", "named"),
    [
        ("v1-lot.json", lambda b: b.__setitem__("ocop_stars", 5), "bundle: unknown field 'ocop_stars'"),
        ("v2-lot-with-upstream-input-lot.json", lambda b: b.__setitem__("product", {"name": "x"}), "'product'"),
        ("v2-shipment.json", lambda b: b.__setitem__("lot", "FAKE-LOT"), "bundle: unknown field 'lot'"),
        ("v2-shipment.json", lambda b: b["anchor"].__setitem__("explorer", "x"), "anchor: unknown field"),
        ("v2-shipment.json", lambda b: b["chains"][0].__setitem__("note", "x"), "chains.0: unknown field 'note'"),
        ("v1-lot.json", lambda b: b["entries"][0].__setitem__("leaf", "x"), "entries.0: unknown field 'leaf'"),
        ("v1-lot.json", lambda b: b["keys"][0].__setitem__("org", "x"), "keys.0: unknown field 'org'"),
        ("v1-lot.json", lambda b: b["tree_head"].__setitem__("time", 1), "tree_head: unknown field 'time'"),
    ],
)
def test_unknown_fields_are_refused(name: str, edit: Any, named: str) -> None:
    bundle, chain = case(name)
    edit(bundle)
    assert named in failure(dumps(bundle), chain)["message"]


def test_deep_nesting_is_refused_before_parsing() -> None:
    with pytest.raises(VerificationError, match="nests too deep: expected at most 64"):
        strict_json.loads(b"[" * 100_000 + b"]" * 100_000)
    assert strict_json.loads(b'{"a": "[[[[" }') == {"a": "[[[["}


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": 1e999}', b'{"a": -Infinity}', b"1" * 5000])
def test_non_finite_and_huge_numbers_are_refused(raw: bytes) -> None:
    with pytest.raises(VerificationError, match="finite|out of range|usable") as exc:
        strict_json.loads(raw)
    assert exc.value.check == "format"
