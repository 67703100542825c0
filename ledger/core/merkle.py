"""RFC 9162 §2.1 Merkle tree hashes, proofs and their verification.

CONSENSUS-CRITICAL: anchored roots and every proof bundle ever handed out depend on the exact
bytes computed here. Changing a hash rule invalidates all existing proofs; such a change needs
a new format version, never an edit in place.

Pure functions over plain values (bytes, ints, lists): no I/O, no tree object. Proof
*construction* is expressed through ranges of leaves (``inclusion_ranges`` and
``consistency_ranges``) so that a store can answer each range from stored subtree hashes in
O(log n) reads; the list-based builders below answer the same ranges from a list of leaf hashes.

Verification follows transparency-dev/merkle ``proof/verify.go``, including its policy that a
consistency proof from an empty tree is rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ledger.errors import InputError, RootMismatchError, VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

Range = tuple[int, int]
"""A half-open range of leaf indexes ``[start, end)`` whose tree hash a proof needs."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree hash of ``leaf_hashes`` (already leaf-hashed), in one pass with a stack."""
    stack: list[bytes] = []
    for count, h in enumerate(leaf_hashes, start=1):
        stack.append(h)
        c = count
        while c & 1 == 0:  # merge the complete subtrees this leaf finished
            right = stack.pop()
            stack[-1] = _sha256(_NODE_PREFIX + stack[-1] + right).digest()
            c >>= 1
    return root_from_subtrees(stack) if stack else EMPTY_ROOT


def root_from_subtrees(subtrees: Sequence[bytes]) -> bytes:
    """Fold complete subtree hashes, largest (leftmost) first, into the tree hash."""
    if not subtrees:
        return EMPTY_ROOT
    acc = subtrees[-1]
    for h in reversed(subtrees[:-1]):
        acc = _sha256(_NODE_PREFIX + h + acc).digest()
    return acc


def subtree_ranges(start: int, end: int) -> list[Range]:
    """Split ``[start, end)`` into aligned complete subtrees, left to right.

    For the ranges that RFC 9162 proofs use, folding their hashes with ``root_from_subtrees``
    gives the tree hash of the range. A complete subtree ``[j·2^k, (j+1)·2^k)`` is what a store
    keeps as node (level k, index j).
    """
    if not 0 <= start < end:
        raise InputError(f"range must be non-empty: expected 0 <= start < end, got [{start}, {end})")
    out: list[Range] = []
    while start < end:
        size = start & -start if start else 1 << ((end - start).bit_length() - 1)
        while start + size > end:
            size >>= 1
        out.append((start, start + size))
        start += size
    return out


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form the inclusion proof of ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.1 PATH, bottom-up order.
    """
    if not 0 <= index < size:
        raise VerificationError(f"index out of range: expected 0 <= index < {size}, got {index}")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The leaf ranges whose hashes form the consistency proof from ``size1`` to ``size2``.

    RFC 9162 §2.1.4.1 SUBPROOF, in proof order.
    """
    if not 0 < size1 <= size2:
        raise VerificationError(f"consistency sizes out of range: expected 0 < size1 <= size2, got {size1}, {size2}")
    out: list[Range] = []
    lo, hi, complete = 0, size2, True
    while size1 != hi:
        k = _split(hi - lo)
        if size1 - lo <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


def _range_hasher(leaf_hashes: Sequence[bytes]) -> Callable[[Range], bytes]:
    def range_root(r: Range) -> bytes:
        return root(leaf_hashes[r[0] : r[1]])

    return range_root


def _check_size(leaf_hashes: Sequence[bytes], size: int) -> None:
    if not 0 <= size <= len(leaf_hashes):
        raise VerificationError(f"tree size out of range: expected 0 <= size <= {len(leaf_hashes)}, got {size}")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    _check_size(leaf_hashes, size)
    return [_range_hasher(leaf_hashes)(r) for r in inclusion_ranges(index, size)]


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """The consistency proof between the trees of the first ``size1`` and ``size2`` leaves."""
    _check_size(leaf_hashes, size2)
    return [_range_hasher(leaf_hashes)(r) for r in consistency_ranges(size1, size2)]


# --- verification (transparency-dev/merkle proof/verify.go) -------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{name} has wrong length: expected {HASH_SIZE}, got {len(value)}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into inner and border (right-edge) parts."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof; raises if the proof has the wrong shape."""
    if not 0 <= index < size:
        raise VerificationError(f"index out of range: expected 0 <= index < {size}, got {index}")
    _check_hash("leaf hash", leaf_hash)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise VerificationError(f"inclusion proof has wrong size: expected {inner + border}, got {len(proof)}")
    for h in proof:
        _check_hash("proof hash", h)
    res = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise unless ``proof`` proves leaf ``index`` of a tree of ``size`` has ``leaf_hash``."""
    _check_hash("root", root)
    got = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if got != root:
        raise RootMismatchError(
            f"inclusion proof gives a different root: expected {root.hex()}, got {got.hex()}",
            index=index,
            expected=root.hex(),
            found=got.hex(),
        )


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise unless ``proof`` shows the tree of ``size2`` extends the tree of ``size1``."""
    if size1 < 0 or size2 < size1:
        raise VerificationError(f"sizes out of order: expected size1 <= size2, got {size1}, {size2}")
    if size1 == 0:
        raise VerificationError("consistency proof from an empty tree is not accepted (size1 is 0)")
    if size1 == size2:
        if proof:
            raise VerificationError(f"consistency proof between equal sizes must be empty: got {len(proof)} hashes")
        if root1 != root2:
            raise RootMismatchError(
                f"roots differ at equal sizes: expected {root1.hex()}, got {root2.hex()}",
                check="consistency",
                expected=root1.hex(),
                found=root2.hex(),
            )
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    if not proof:
        raise VerificationError("consistency proof is empty: expected at least 1 hash, got 0")
    for h in proof:
        _check_hash("proof hash", h)
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, start = (root1, 0) if size1 == 1 << shift else (proof[0], 1)
    if len(proof) != start + inner + border:
        raise VerificationError(
            f"consistency proof has wrong size: expected {start + inner + border}, got {len(proof)}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise RootMismatchError(
            f"consistency proof gives a different first root: expected {root1.hex()}, got {hash1.hex()}",
            check="consistency",
            expected=root1.hex(),
            found=hash1.hex(),
        )
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise RootMismatchError(
            f"consistency proof gives a different second root: expected {root2.hex()}, got {hash2.hex()}",
            check="consistency",
            expected=root2.hex(),
            found=hash2.hex(),
        )


class Frontier:
    """The complete subtrees on the right edge of a growing log: O(log n) state, no I/O.

    ``append`` returns the subtree nodes each new leaf completes (level ≥ 1), which a store
    writes so that later proofs can be served from stored hashes.
    """

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        expected = bin(size).count("1")
        if len(nodes) != expected:
            raise VerificationError(f"frontier of size {size} needs {expected} subtree hashes, got {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)

    @staticmethod
    def ranges(size: int) -> list[Range]:
        """The complete subtrees that make up a tree of ``size`` leaves, left to right."""
        return subtree_ranges(0, size) if size else []

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the completed nodes as (level, index, hash)."""
        nodes = self.nodes
        nodes.append(leaf)
        self.size += 1
        created: list[tuple[int, int, bytes]] = []
        c, level, idx = self.size, 0, self.size - 1
        while c & 1 == 0:
            right = nodes.pop()
            nodes[-1] = _sha256(_NODE_PREFIX + nodes[-1] + right).digest()
            level += 1
            idx >>= 1
            created.append((level, idx, nodes[-1]))
            c >>= 1
        return created

    def root(self) -> bytes:
        return root_from_subtrees(self.nodes)
