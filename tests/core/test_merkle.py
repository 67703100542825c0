"""RFC 9162 Merkle tree: the shared probes, a reference implementation, and properties."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import merkle, proofs
from ledger.errors import RootMismatchError, VerificationError
from tests.helpers import VECTORS_DIR

RFC9162_DIR = VECTORS_DIR / "rfc9162"
RFC9162_COUNT = 196
PROPS = settings(max_examples=200, deadline=None)


# --- the shared probes (transparency-dev/merkle testdata) ---------------------------------


def _vector_params() -> list[Any]:
    if not RFC9162_DIR.is_dir():
        reason = f"RFC 9162 probes not found at {RFC9162_DIR}: ../shared is not beside this clone"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="rfc9162-missing")]
    files = sorted(RFC9162_DIR.rglob("*.json"))
    return [pytest.param(p, id=p.relative_to(RFC9162_DIR).as_posix()) for p in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value is not None else b""


def _check_probe(kind: str, probe: dict[str, Any]) -> None:
    proof = [_b64(h) for h in probe["proof"] or []]
    if kind == "inclusion":
        merkle.verify_inclusion(
            _b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], proof, _b64(probe["root"])
        )
    else:
        merkle.verify_consistency(probe["size1"], probe["size2"], proof, _b64(probe["root1"]), _b64(probe["root2"]))


@pytest.mark.parametrize("path", _vector_params())
def test_rfc9162_probe(path: Path) -> None:
    kind = path.relative_to(RFC9162_DIR).parts[0]
    probe = json.loads(path.read_text())
    if probe["wantErr"]:
        with pytest.raises(VerificationError):
            _check_probe(kind, probe)
    else:
        _check_probe(kind, probe)


def test_rfc9162_probe_count() -> None:
    if not RFC9162_DIR.is_dir():
        pytest.skip(f"RFC 9162 probes not found at {RFC9162_DIR}: ../shared is not beside this clone")
    files = list(RFC9162_DIR.rglob("*.json"))
    assert len(files) == RFC9162_COUNT
    kinds = {p.relative_to(RFC9162_DIR).parts[0] for p in files}
    assert kinds == {"inclusion", "consistency"}


# --- reference implementation, straight from RFC 9162 §2.1 --------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: tuple[bytes, ...]) -> bytes:
    """MTH(D[n]) over the leaf *data* D."""
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_proof(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return ref_subproof(m, d, True)


def ref_subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


DATA = tuple(f"leaf {i}".encode() for i in range(130))
LEAVES = [merkle.leaf_hash(x) for x in DATA]


@cache
def _ref_root(n: int) -> bytes:
    return ref_mth(DATA[:n])


def test_reference_matches_rfc_examples() -> None:
    assert ref_mth(()) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT == merkle.root([])
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@pytest.mark.parametrize("n", range(1, 65))
def test_cross_check_with_reference(n: int) -> None:
    d = DATA[:n]
    root = merkle.root(LEAVES[:n])
    assert root == ref_mth(d)
    for m in range(n):
        proof = merkle.inclusion_proof(LEAVES, m, n)
        assert proof == ref_path(m, d), f"inclusion proof of {m} in {n}"
        merkle.verify_inclusion(LEAVES[m], m, n, proof, root)
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(LEAVES, m, n)
        assert proof == ref_proof(m, d), f"consistency proof {m} -> {n}"
        merkle.verify_consistency(m, n, proof, _ref_root(m), root)


def test_frontier_matches_reference_for_every_prefix() -> None:
    f = merkle.Frontier()
    for n in range(1, len(DATA) + 1):
        created = f.append(LEAVES[n - 1])
        assert f.size == n
        assert f.root() == _ref_root(n)
        for level, idx, h in created:
            width = 1 << level
            assert (idx + 1) * width == n, "a completed node ends at the new leaf"
            assert h == ref_mth(DATA[idx * width : (idx + 1) * width])
        assert merkle.Frontier(n, f.nodes).root() == f.root()


def test_frontier_rejects_wrong_number_of_nodes() -> None:
    with pytest.raises(VerificationError, match="frontier of size 3 needs 2 subtree hashes, got 1"):
        merkle.Frontier(3, [LEAVES[0]])


# --- error messages and edge cases --------------------------------------------------------


def test_inclusion_errors_say_expected_and_got() -> None:
    root = merkle.root(LEAVES[:5])
    proof = merkle.inclusion_proof(LEAVES, 2, 5)
    with pytest.raises(VerificationError, match=f"inclusion proof has wrong size: expected {len(proof)}, got"):
        merkle.verify_inclusion(LEAVES[2], 2, 5, [*proof, LEAVES[0]], root)
    with pytest.raises(VerificationError, match="index out of range: expected 0 <= index < 5, got 5"):
        merkle.verify_inclusion(LEAVES[2], 5, 5, proof, root)
    with pytest.raises(VerificationError, match="leaf hash has wrong length: expected 32, got 31"):
        merkle.verify_inclusion(LEAVES[2][:31], 2, 5, proof, root)
    with pytest.raises(VerificationError, match="root has wrong length: expected 32, got 33"):
        merkle.verify_inclusion(LEAVES[2], 2, 5, proof, root + b"\x00")
    with pytest.raises(RootMismatchError, match=f"expected {root.hex()}, got"):
        merkle.verify_inclusion(LEAVES[3], 2, 5, proof, root)


def test_consistency_errors() -> None:
    r3, r7 = merkle.root(LEAVES[:3]), merkle.root(LEAVES[:7])
    proof = merkle.consistency_proof(LEAVES, 3, 7)
    with pytest.raises(VerificationError, match="empty tree"):
        merkle.verify_consistency(0, 7, proof, merkle.EMPTY_ROOT, r7)
    with pytest.raises(VerificationError, match="expected size1 <= size2, got 7, 3"):
        merkle.verify_consistency(7, 3, proof, r7, r3)
    with pytest.raises(VerificationError, match="must be empty"):
        merkle.verify_consistency(3, 3, proof, r3, r3)
    with pytest.raises(RootMismatchError, match="roots differ at equal sizes"):
        merkle.verify_consistency(3, 3, [], r3, r7)
    with pytest.raises(VerificationError, match="consistency proof is empty: expected at least 1 hash, got 0"):
        merkle.verify_consistency(3, 7, [], r3, r7)
    with pytest.raises(VerificationError, match="consistency proof has wrong size"):
        merkle.verify_consistency(3, 7, proof[:-1], r3, r7)
    with pytest.raises(RootMismatchError, match="different first root"):
        merkle.verify_consistency(3, 7, proof, merkle.root(LEAVES[1:4]), r7)
    with pytest.raises(RootMismatchError, match="different second root"):
        merkle.verify_consistency(3, 7, proof, r3, merkle.root(LEAVES[1:8]))
    merkle.verify_consistency(3, 3, [], r3, r3)


def test_builders_reject_sizes_beyond_the_leaves() -> None:
    with pytest.raises(VerificationError, match="tree size out of range: expected 0 <= size <= 4, got 5"):
        merkle.inclusion_proof(LEAVES[:4], 0, 5)
    with pytest.raises(VerificationError, match="tree size out of range"):
        merkle.consistency_proof(LEAVES[:4], 1, 5)
    with pytest.raises(VerificationError, match="expected 0 < size1 <= size2, got 0, 4"):
        merkle.consistency_proof(LEAVES[:4], 0, 4)
    with pytest.raises(ValueError, match=r"expected 0 <= start < end, got \[3, 3\)"):
        merkle.subtree_ranges(3, 3)


# --- Hypothesis properties ----------------------------------------------------------------


def _leaves(n: int, salt: bytes) -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def _flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@PROPS
@given(n=st.integers(1, 300), salt=st.binary(max_size=8), data=st.data())
def test_every_inclusion_proof_verifies(n: int, salt: bytes, data: st.DataObject) -> None:
    leaves = _leaves(n, salt)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    merkle.verify_inclusion(
        leaves[index], index, size, merkle.inclusion_proof(leaves, index, size), merkle.root(leaves[:size])
    )


@PROPS
@given(n=st.integers(1, 300), salt=st.binary(max_size=8), data=st.data())
def test_every_consistency_proof_verifies(n: int, salt: bytes, data: st.DataObject) -> None:
    leaves = _leaves(n, salt)
    size2 = data.draw(st.integers(1, n), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = merkle.consistency_proof(leaves, size1, size2)
    merkle.verify_consistency(size1, size2, proof, merkle.root(leaves[:size1]), merkle.root(leaves[:size2]))


@PROPS
@given(n=st.integers(1, 200), data=st.data())
def test_inclusion_rejects_any_bit_flip(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n, b"flip")
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = merkle.inclusion_proof(leaves, index, n)
    root = merkle.root(leaves)
    leaf = leaves[index]
    target = data.draw(st.sampled_from(["leaf", "root", *range(len(proof))]), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target == "leaf":
        leaf = _flip(leaf, bit)
    elif target == "root":
        root = _flip(root, bit)
    else:
        proof = [_flip(h, bit) if i == target else h for i, h in enumerate(proof)]
    with pytest.raises(RootMismatchError):
        merkle.verify_inclusion(leaf, index, n, proof, root)


@PROPS
@given(n=st.integers(2, 200), data=st.data())
def test_consistency_rejects_any_bit_flip(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n, b"flip")
    size1 = data.draw(st.integers(1, n - 1), label="size1")
    proof = merkle.consistency_proof(leaves, size1, n)
    roots = {"root1": merkle.root(leaves[:size1]), "root2": merkle.root(leaves)}
    target = data.draw(st.sampled_from(["root1", "root2", *range(len(proof))]), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    if isinstance(target, str):
        roots[target] = _flip(roots[target], bit)
    else:
        proof = [_flip(h, bit) if i == target else h for i, h in enumerate(proof)]
    with pytest.raises(VerificationError):
        merkle.verify_consistency(size1, n, proof, roots["root1"], roots["root2"])


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.binary(max_size=40), min_size=1, max_size=40))
def test_frontier_equals_reference_root(data: list[bytes]) -> None:
    f = merkle.Frontier()
    for i, x in enumerate(data):
        f.append(merkle.leaf_hash(x))
        assert f.root() == ref_mth(tuple(data[: i + 1]))
    assert merkle.root([merkle.leaf_hash(x) for x in data]) == f.root()


def _all_nodes(leaves: list[bytes]) -> dict[proofs.Coord, bytes]:
    """Every complete subtree of the tree over ``leaves``, as a store keeps them."""
    nodes: dict[proofs.Coord, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    level = 1
    while (1 << level) <= len(leaves):
        width = 1 << level
        for j in range(len(leaves) // width):
            nodes[(level, j)] = merkle.node_hash(nodes[(level - 1, 2 * j)], nodes[(level - 1, 2 * j + 1)])
        level += 1
    return nodes


@PROPS
@given(n=st.integers(1, 600), data=st.data())
def test_node_plans_match_list_builders(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n, b"nodes")
    nodes = _all_nodes(leaves)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    size1 = data.draw(st.integers(1, size), label="size1")
    bound = 2 * size.bit_length() + 1  # O(log n) stored nodes per answer

    assert proofs.root_from_nodes(size, nodes) == merkle.root(leaves[:size])
    assert len(proofs.root_coords(size)) <= size.bit_length()

    ranges, coords = proofs.inclusion_coords(index, size)
    assert coords <= nodes.keys() and len(coords) <= bound
    assert proofs.hashes_from_nodes(ranges, nodes) == merkle.inclusion_proof(leaves, index, size)

    ranges, coords = proofs.consistency_coords(size1, size)
    assert coords <= nodes.keys() and len(coords) <= bound
    assert proofs.hashes_from_nodes(ranges, nodes) == merkle.consistency_proof(leaves, size1, size)


def test_node_plans_report_a_missing_node() -> None:
    nodes = _all_nodes(LEAVES[:8])
    del nodes[(2, 1)]
    ranges, _ = proofs.inclusion_coords(0, 8)  # [1, 2), [2, 4), [4, 8): the last is node (2, 1)
    with pytest.raises(VerificationError, match="stored subtree hash is missing: expected node level 2 index 1"):
        proofs.hashes_from_nodes(ranges, nodes)
    assert proofs.root_from_nodes(0, {}) == merkle.EMPTY_ROOT
