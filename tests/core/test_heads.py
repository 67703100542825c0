"""The heads map (``ledger.core.heads``): leaves, sorted root, proofs and their verification."""

from __future__ import annotations

import hashlib
import json

import pytest

from ledger.core import heads, merkle
from ledger.errors import InputError, VerificationError

H = "ab" * 32


def leaves() -> list[dict[str, object]]:
    return [
        heads.head_leaf("lot:L-2", 3, H, 40),
        heads.shipment_leaf("123456789012345675", ["L-2", "L-1"], 41),
        heads.head_leaf("lot:L-1", 0, bytes.fromhex(H), 2),
        heads.head_leaf("org:htx-phu-hoi", 1, H, 7),
    ]


def reference_leaf_hash(leaf: dict[str, object]) -> bytes:
    """Obviously-correct reference: ordinary JSON sorted by key equals RFC 8785 on these values."""
    text = json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"\x00" + text.encode()).digest()


def test_map_is_sorted_by_key_and_root_is_rfc9162_over_leaf_hashes() -> None:
    m = heads.HeadsMap(leaves())
    assert [lf["key"] for lf in m.leaves] == ["lot:L-1", "lot:L-2", "org:htx-phu-hoi", "sscc:123456789012345675"]
    assert m.root == merkle.root([reference_leaf_hash(lf) for lf in m.leaves])
    assert heads.map_root(reversed(leaves())) == m.root
    assert m.leaves[3]["members"] == ["L-1", "L-2"]


def test_empty_map_has_the_empty_root() -> None:
    assert heads.HeadsMap([]).root == hashlib.sha256(b"").digest()


def test_every_proof_verifies_and_returns_its_leaf() -> None:
    m = heads.HeadsMap(leaves())
    for lf in m.leaves:
        item = m.proof(str(lf["key"]))
        assert heads.verify_map_proof(item, m.root, m.size) == lf


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["leaf"].__setitem__("seq", 4),
        lambda p: p["leaf"].__setitem__("index", 99),
        lambda p: p.__setitem__("position", (p["position"] + 1) % 4),
        lambda p: p["proof"].pop(),
        lambda p: p["proof"].__setitem__(0, "00" * 32),
    ],
    ids=["seq", "index", "position", "proof-short", "proof-hash"],
)
def test_a_changed_proof_fails_completeness(change: object) -> None:
    m = heads.HeadsMap(leaves())
    item = m.proof("lot:L-2")
    change(item)  # type: ignore[operator]
    with pytest.raises(VerificationError, match="map proof") as exc:
        heads.verify_map_proof(item, m.root, m.size)
    assert exc.value.check == "completeness"


def test_a_leaf_missing_from_the_map_cannot_be_proved() -> None:
    m = heads.HeadsMap(leaves())
    with pytest.raises(InputError, match="no leaf for lot:L-9"):
        m.proof("lot:L-9")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(InputError, match="two leaves for lot:L-1"):
        heads.HeadsMap([heads.head_leaf("lot:L-1", 0, H, 1), heads.head_leaf("lot:L-1", 1, H, 2)])


@pytest.mark.parametrize(
    "leaf",
    [
        {"key": "lot:L", "seq": 0, "head": H},
        {"key": "lot:L", "seq": 0, "head": H, "index": 1, "extra": 1},
        {"key": "lot:L", "seq": True, "head": H, "index": 1},
        {"key": "lot:L", "seq": 0, "head": "AB" * 32, "index": 1},
        {"key": "lot:", "seq": 0, "head": H, "index": 1},
        {"key": "box:L", "seq": 0, "head": H, "index": 1},
        {"key": "sscc:12", "members": [], "index": 1},
        {"key": "sscc:123456789012345675", "members": ["b", "a"], "index": 1},
        {"key": "lot:L", "seq": 0, "head": H, "index": 2**53},
    ],
)
def test_malformed_leaves_are_refused(leaf: dict[str, object]) -> None:
    with pytest.raises(InputError, match="leaf"):
        heads.check_leaf(leaf)


def test_heads_body_is_exact() -> None:
    body = heads.heads_body(10, bytes(32), 3, 4)
    assert body == {"size": 10, "map_root": "00" * 32, "map_size": 3, "prev_heads": 4}
    with pytest.raises(InputError, match="prev_heads must be before the size"):
        heads.heads_body(4, bytes(32), 3, 4)
    with pytest.raises(InputError, match="expected fields"):
        heads.check_heads_body({**body, "extra": 1})
