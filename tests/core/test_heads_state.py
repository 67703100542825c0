"""The incremental heads map (``ledger.core.heads_state.MapState``) equals the map built from scratch.

The reference is a replay into a plain dict followed by ``heads.HeadsMap`` (sorted leaves, one
``merkle.root`` over all their hashes; both tested against RFC vectors and JCS elsewhere), and a
textbook recursive RFC 9162 root written here.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import heads
from ledger.core.heads_state import MapState
from ledger.errors import InputError

SSCCS = ["123456789012345675", "089300000000000013", "000000000000000000"]


def rfc9162_root(hashes: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1, recursively."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc9162_root(hashes[:k]) + rfc9162_root(hashes[k:])).digest()


def reference(ops: list[tuple[Any, ...]]) -> heads.HeadsMap:
    leaves: dict[str, dict[str, Any]] = {}
    for idx, op in enumerate(ops):
        if op[0] == "head":
            _, key, seq = op
            if key not in leaves or seq > leaves[key]["seq"]:
                leaves[key] = heads.head_leaf(key, seq, hashlib.sha256(f"{idx}".encode()).digest(), idx)
        else:
            _, sscc, lot, action = op
            old = leaves.get(heads.sscc_key(sscc))
            members = set(old["members"]) if old else set()
            (members.add if action == "ADD" else members.discard)(lot)
            leaves[heads.sscc_key(sscc)] = heads.shipment_leaf(sscc, members, idx)
    return heads.HeadsMap(leaves.values())


def feed(state: MapState, ops: list[tuple[Any, ...]], start: int) -> None:
    for idx, op in enumerate(ops[start:], start=start):
        if op[0] == "head":
            state.set_head(op[1], op[2], hashlib.sha256(f"{idx}".encode()).digest(), idx)
        else:
            state.pack(op[1], op[2], op[3], idx)


keys = st.sampled_from([f"lot:L-{i:03d}" for i in range(40)] + ["org:a", "key:ed25519:" + "0" * 64, "product:1"])
head_op = st.tuples(st.just("head"), keys, st.integers(0, 6))
pack_op = st.tuples(st.just("pack"), st.sampled_from(SSCCS), st.sampled_from(["L-001", "L-002", "L-003"]),
                    st.sampled_from(["ADD", "DELETE"]))  # fmt: skip
log_ops = st.lists(st.one_of(head_op, head_op, pack_op), max_size=120)


@settings(max_examples=300, deadline=None)
@given(log_ops, st.lists(st.integers(0, 120), max_size=10))
def test_prefix_roots_equal_the_maps_of_the_prefixes(ops: list[tuple[Any, ...]], cuts: list[int]) -> None:
    state, done = MapState(), 0
    for cut in sorted({min(c, len(ops)) for c in cuts} | {len(ops)}):
        feed(state, ops[:cut], done)
        done = cut
        want = reference(ops[:cut])
        assert (state.root(), state.map_size) == (want.root, want.size)
        assert want.root == rfc9162_root(want.hashes)
    assert sorted(state.leaves.values(), key=lambda lf: lf["key"]) == reference(ops).leaves


@settings(max_examples=100, deadline=None)
@given(log_ops, st.integers(0, 120))
def test_a_state_from_leaves_continues_like_one_fed_from_the_start(ops: list[tuple[Any, ...]], cut: int) -> None:
    cut = min(cut, len(ops))
    state = MapState(reference(ops[:cut]).leaves, size=cut)
    state.root()
    feed(state, ops, cut)
    assert state.root() == reference(ops).root


def test_empty_map_and_body() -> None:
    state = MapState(size=5, last_heads=2)
    assert state.root() == hashlib.sha256(b"").digest() and state.map_size == 0
    assert state.body() == {"size": 5, "map_root": hashlib.sha256(b"").hexdigest(), "map_size": 0, "prev_heads": 2}


def test_a_later_seq_never_goes_back_and_bad_actions_are_refused() -> None:
    state = MapState()
    state.set_head("lot:L-1", 3, "ab" * 32, 9)
    state.set_head("lot:L-1", 2, "cd" * 32, 10)
    assert state.leaves["lot:L-1"]["head"] == "ab" * 32
    with pytest.raises(ValueError, match="expected ADD or DELETE, got 'OBSERVE'"):
        state.pack(SSCCS[0], "L-1", "OBSERVE", 11)
    with pytest.raises(ValueError, match="two leaves for lot:L-1"):
        MapState([heads.head_leaf("lot:L-1", 0, "ab" * 32, 0), heads.head_leaf("lot:L-1", 1, "ab" * 32, 1)])


@settings(max_examples=100, deadline=None)
@given(log_ops, st.integers(0, 120))
def test_proofs_from_the_kept_nodes_equal_those_of_the_map_from_scratch(ops: list[tuple[Any, ...]], cut: int) -> None:
    state = MapState()
    feed(state, ops[: min(cut, len(ops))], 0)
    state.root()
    feed(state, ops, min(cut, len(ops)))
    want = reference(ops)
    for leaf in want.leaves:
        proof = state.proof(leaf["key"])
        assert proof == want.proof(leaf["key"])
        assert heads.verify_map_proof(proof, want.root, want.size) == leaf


def test_a_key_not_in_the_map_has_no_proof() -> None:
    state = MapState([heads.head_leaf("lot:L-1", 0, "ab" * 32, 0)])
    with pytest.raises(InputError, match="no leaf for lot:L-2"):
        state.proof("lot:L-2")
