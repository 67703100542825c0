"""The heads map: a commitment to every subject's newest entry, so that a bundle proves completeness.

CONSENSUS-CRITICAL (format v2, ``docs/bundle.md`` "heads map"). Before each anchor the anchor
worker appends one ``heads`` entry (subject ``heads:log``, signed by the log key) at index ``h``
whose body is ``heads_body``: the size ``h`` of the log it describes, the root and size of the map,
and the index of the previous ``heads`` entry. The map is the list of one leaf per subject that has
entries in ``[0, h)``, sorted by ``key`` in code-point order, without duplicates:

* a lot:         ``{"key": "lot:<lot id>", "seq": n, "head": <hex leaf hash of its newest entry>, "index": i}``
* a v2 subject:  the same shape, ``key`` is the subject (``org:…``, ``key:…``, ``product:…``, ``attestation:…``)
* a shipment:    ``{"key": "sscc:<18 digits>", "members": [sorted lot ids packed], "index": i}``

Map leaf hash = SHA-256(0x00 ‖ RFC 8785 bytes of the leaf); ``map_root`` = RFC 9162 root of the
leaf hashes in sorted order (``ledger.core.merkle.root``). A map proof is
``{"leaf": {...}, "position": p, "proof": [hex, ...]}``, checked with
``merkle.verify_inclusion(leaf_hash, p, map_size, proof, map_root)``.

Pure: plain values in and out; the store computes the leaves (``ledger.store.heads_map``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ledger.core import canonical, merkle
from ledger.errors import InputError, VerificationError

HEAD_KEYS = frozenset({"key", "seq", "head", "index"})
SHIPMENT_KEYS = frozenset({"key", "members", "index"})
HEADS_BODY_KEYS = frozenset({"size", "map_root", "map_size", "prev_heads"})
PROOF_KEYS = frozenset({"leaf", "position", "proof"})
SUBJECT_PREFIXES = ("lot:", "org:", "key:", "product:", "attestation:")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SSCC_KEY = re.compile(r"sscc:[0-9]{18}")
MAX_INT = 2**53


def lot_key(lot_id: str) -> str:
    return f"lot:{lot_id}"


def sscc_key(sscc: str) -> str:
    return f"sscc:{sscc}"


def head_leaf(key: str, seq: int, head: bytes | str, index: int) -> dict[str, Any]:
    """The leaf of a lot (``key`` ``lot:<id>``) or a v2 subject: its newest entry's seq, leaf hash and index."""
    leaf = {"key": key, "seq": seq, "head": head.hex() if isinstance(head, bytes) else head, "index": index}
    check_leaf(leaf)
    return leaf


def shipment_leaf(sscc: str, members: Iterable[str], index: int) -> dict[str, Any]:
    """The leaf of a shipment: the lots packed in it now and the index of its newest aggregation entry."""
    leaf = {"key": sscc_key(sscc), "members": sorted(set(members)), "index": index}
    check_leaf(leaf)
    return leaf


def check_leaf(leaf: Any) -> None:
    """The leaf has exactly the fields of its shape with their types; ``InputError`` otherwise."""
    if not isinstance(leaf, Mapping) or not isinstance(leaf.get("key"), str):
        raise InputError(f"map leaf: expected an object with a string 'key', got {leaf!r}")
    key, fields = leaf["key"], set(leaf)
    if key.startswith("sscc:"):
        _check_shipment_leaf(leaf, fields)
    elif key.startswith(SUBJECT_PREFIXES) and len(key) > key.index(":") + 1:
        if fields != HEAD_KEYS:
            raise InputError(f"map leaf {key}: expected fields {sorted(HEAD_KEYS)}, got {sorted(fields)}")
        if not _is_count(leaf["seq"]) or not (isinstance(leaf["head"], str) and _HEX32.fullmatch(leaf["head"])):
            raise InputError(f"map leaf {key}: expected an integer seq and a 64-hex head, got {leaf!r}")
    else:
        raise InputError(f"map leaf key: expected 'lot:', a v2 subject or 'sscc:<18 digits>', got {key!r}")
    if not _is_count(leaf["index"]):
        raise InputError(f"map leaf {key}: index must be an integer from 0, got {leaf['index']!r}")


def _check_shipment_leaf(leaf: Mapping[str, Any], fields: set[str]) -> None:
    key, members = leaf["key"], leaf.get("members")
    if not isinstance(members, list):
        raise InputError(f"shipment leaf {key}: members must be a list of lot ids, got {members!r}")
    if not _SSCC_KEY.fullmatch(key) or fields != SHIPMENT_KEYS:
        raise InputError(f"shipment leaf {key}: expected 'sscc:<18 digits>' and fields {sorted(SHIPMENT_KEYS)}")
    ok = all(isinstance(m, str) and m for m in members)
    if not ok or members != sorted(set(members)):
        raise InputError(f"shipment leaf {key}: members must be sorted distinct lot ids, got {members!r}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_INT


def map_leaf_hash(leaf: Mapping[str, Any]) -> bytes:
    """SHA-256(0x00 ‖ RFC 8785 bytes of the leaf)."""
    return merkle.leaf_hash(canonical.canonicalize(dict(leaf)))


class HeadsMap:
    """The sorted map of one heads entry: its root, size and proofs of single leaves."""

    def __init__(self, leaves: Iterable[Mapping[str, Any]]) -> None:
        self.leaves = sorted((dict(lf) for lf in leaves), key=lambda lf: str(lf["key"]))
        for a, b in zip(self.leaves, self.leaves[1:], strict=False):
            if a["key"] == b["key"]:
                raise InputError(f"the heads map has two leaves for {a['key']}")
        self.positions = {str(lf["key"]): p for p, lf in enumerate(self.leaves)}
        self.hashes = [map_leaf_hash(lf) for lf in self.leaves]
        self.root = merkle.root(self.hashes)

    @property
    def size(self) -> int:
        return len(self.leaves)

    def proof(self, key: str) -> dict[str, Any]:
        """The map proof of the leaf of ``key``; ``InputError`` when the map has no such leaf."""
        position = self.positions.get(key)
        if position is None:
            raise InputError(f"the heads map has no leaf for {key}")
        path = merkle.inclusion_proof(self.hashes, position, self.size)
        return {"leaf": dict(self.leaves[position]), "position": position, "proof": [h.hex() for h in path]}


def map_root(leaves: Iterable[Mapping[str, Any]]) -> bytes:
    """The root of the sorted map of ``leaves``."""
    return HeadsMap(leaves).root


def heads_body(size: int, root: bytes, map_size: int, prev_heads: int | None) -> dict[str, Any]:
    """The body of a ``heads`` entry at index ``size`` describing the log ``[0, size)``."""
    body = {"size": size, "map_root": root.hex(), "map_size": map_size, "prev_heads": prev_heads}
    check_heads_body(body)
    return body


def check_heads_body(body: Any) -> None:
    """A ``heads`` body has exactly its four fields with their types; ``InputError`` otherwise."""
    if not isinstance(body, Mapping) or set(body) != HEADS_BODY_KEYS:
        got = sorted(body) if isinstance(body, Mapping) else type(body).__name__
        raise InputError(f"heads body: expected fields {sorted(HEADS_BODY_KEYS)}, got {got}")
    prev = body["prev_heads"]
    if not _is_count(body["size"]) or not _is_count(body["map_size"]) or not (prev is None or _is_count(prev)):
        raise InputError(f"heads body: size, map_size and prev_heads must be integers from 0, got {dict(body)}")
    if not isinstance(body["map_root"], str) or not _HEX32.fullmatch(body["map_root"]):
        raise InputError(f"heads body: map_root must be 64 lowercase hex digits, got {body['map_root']!r}")
    if prev is not None and prev >= body["size"]:
        raise InputError(f"heads body: prev_heads must be before the size: expected < {body['size']}, got {prev}")


def verify_map_proof(item: Any, root: bytes, map_size: int) -> dict[str, Any]:
    """Check a map proof against the heads entry's ``map_root`` / ``map_size``; return its leaf.

    Raises ``VerificationError`` with check ``completeness``.
    """
    if not isinstance(item, Mapping) or set(item) != PROOF_KEYS:
        got = sorted(item) if isinstance(item, Mapping) else type(item).__name__
        raise VerificationError(f"map proof: expected fields {sorted(PROOF_KEYS)}, got {got}", check="completeness")
    leaf, position, proof = item["leaf"], item["position"], item["proof"]
    try:
        check_leaf(leaf)
    except InputError as exc:
        raise VerificationError(str(exc), check="completeness") from None
    if not _is_count(position) or not _hex_list(proof):
        msg = "map proof: expected an integer position and a list of hex hashes"
        raise VerificationError(msg, check="completeness")
    try:
        merkle.verify_inclusion(map_leaf_hash(leaf), position, map_size, [bytes.fromhex(h) for h in proof], root)
    except VerificationError as exc:
        raise VerificationError(f"map proof of {leaf['key']} fails: {exc}", check="completeness") from None
    return dict(leaf)


def _hex_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(h, str) and _HEX32.fullmatch(h) for h in value)


def sorted_keys_distinct(keys: Sequence[str]) -> bool:
    """Map proofs in a bundle come in strictly increasing key order (so none is given twice)."""
    return all(a < b for a, b in zip(keys, keys[1:], strict=False))
