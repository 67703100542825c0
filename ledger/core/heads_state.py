"""The heads map kept up to date entry by entry (``ledger.core.heads``): an anchor costs O(changes + hashing).

CONSENSUS-CRITICAL in what it computes, not in how: ``MapState`` must give, for every log prefix it
has been fed, the leaves, ``map_root`` and ``map_size`` of ``heads.HeadsMap`` over the same leaves
(tested against it, and against the store's from-scratch queries, on random logs). It is fed the
log's entries in index order (``set_head`` for a subject's entry, ``pack`` for a signed ADD or
DELETE aggregation) and answers ``root()`` at any point. Used by the anchor worker (a cache carried
from anchor to anchor, so that only the entries since the previous anchor are read under the
log-head lock) and by the full-log audit (which recomputes the map at every ``heads`` entry in one
pass over the log).

Why this shape. The map format is fixed (a sorted RFC 9162 tree; ``docs/bundle.md``): inserting a
new key shifts every later leaf, so every node to its right changes and no tree can avoid
re-hashing them. ``MapState`` therefore keeps

* the leaves by key and their leaf hashes (a leaf is canonicalized and hashed at the first root
  after it changed, once however often it changed, and not again at later anchors);
* the keys in sorted order and the hashes of every complete aligned subtree (``levels[k][j]`` is
  the node over leaves ``[j·2^k, (j+1)·2^k)``), with what changed since the last root: the lowest
  position where a key was inserted (every node covering a later position is recomputed) and the
  positions whose leaf was replaced in place (only their ancestors are recomputed).

So a root costs O(n − p + u·log n) node hashes for an insertion at position p and u in-place
updates: a batch of events on existing lots costs u·log n, new lots at most one pass over the map.
Keys are never removed (a subject's leaf stays; an emptied shipment keeps its leaf).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.core import heads, merkle, proofs
from ledger.errors import InputError

_NODE = b"\x01"


class MapState:
    """The heads map of the log prefix fed so far (``size`` entries; ``last_heads`` the newest ``heads`` entry)."""

    def __init__(self, leaves: Iterable[Mapping[str, Any]] = (), size: int = 0, last_heads: int | None = None) -> None:
        self.size = size
        self.last_heads = last_heads
        self.leaves: dict[str, dict[str, Any]] = {}
        for leaf in leaves:
            key = str(leaf["key"])
            if key in self.leaves:
                raise ValueError(f"the heads map has two leaves for {key}")
            self.leaves[key] = dict(leaf)
        self.keys: list[str] = sorted(self.leaves)
        self.levels: list[list[bytes]] = [[heads.map_leaf_hash(self.leaves[k]) for k in self.keys]]
        self._inserted_from = 0  # nothing computed above level 0 yet
        self._updated: set[int] = set()
        self._pending: set[str] = set()  # keys whose leaf changed since the last root (not hashed yet)
        self._root: bytes | None = None

    @property
    def map_size(self) -> int:
        return len(self.keys)

    def set_head(self, key: str, seq: int, head: bytes | str, index: int) -> None:
        """A subject's entry: it becomes the subject's leaf unless the leaf has a later seq already."""
        old = self.leaves.get(key)
        if old is None or seq > old["seq"]:
            self._put(heads.head_leaf(key, seq, head, index))

    def pack(self, sscc: str, lot: str, action: str, index: int) -> None:
        """A signed aggregation naming ``sscc``: ADD packs ``lot``, DELETE unpacks it."""
        old = self.leaves.get(heads.sscc_key(sscc))
        members = set(old["members"]) if old is not None else set()
        if action == "ADD":
            members.add(lot)
        elif action == "DELETE":
            members.discard(lot)
        else:
            raise ValueError(f"aggregation action: expected ADD or DELETE, got {action!r}")
        self._put(heads.shipment_leaf(sscc, members, index))

    def _put(self, leaf: dict[str, Any]) -> None:
        """Store the leaf; it is hashed at the next ``root`` (a subject changed twice is hashed once)."""
        key = str(leaf["key"])
        self._root = None
        if key not in self.leaves:
            p = bisect.bisect_left(self.keys, key)
            self.keys.insert(p, key)
            self.levels[0].insert(p, b"")
            self._inserted_from = min(self._inserted_from, p)
        self.leaves[key] = leaf
        self._pending.add(key)

    def root(self) -> bytes:
        """``map_root`` of the leaves fed so far: the nodes that changed are recomputed, the others reused."""
        if self._root is None:
            self._hash_pending()
            self._refresh()
            self._root = self._fold()
        return self._root

    def _hash_pending(self) -> None:
        hashes = self.levels[0]
        for key in self._pending:
            p = bisect.bisect_left(self.keys, key)
            hashes[p] = heads.map_leaf_hash(self.leaves[key])
            if p < self._inserted_from:
                self._updated.add(p)
        self._pending = set()

    def _refresh(self) -> None:
        n, start, updated, sha = len(self.keys), self._inserted_from, sorted(self._updated), hashlib.sha256
        k = 1
        while n >> k:
            below, width = self.levels[k - 1], n >> k
            if len(self.levels) == k:
                self.levels.append([])
            level = self.levels[k]
            del level[width:]
            first = min(start >> k, len(level))  # every node from here on covers an inserted-at-or-after leaf
            for j in sorted({p >> k for p in updated if p >> k < first}):
                level[j] = sha(_NODE + below[2 * j] + below[2 * j + 1]).digest()
            level[first:] = [sha(_NODE + below[i] + below[i + 1]).digest() for i in range(2 * first, 2 * width, 2)]
            k += 1
        del self.levels[max(k, 1) :]
        self._inserted_from, self._updated = n, set()

    def _fold(self) -> bytes:
        """The RFC 9162 root: fold the complete subtrees of the binary decomposition of n, largest first."""
        n, offset, subtrees = len(self.keys), 0, []
        for k in range(n.bit_length() - 1, -1, -1):
            if n >> k & 1:
                subtrees.append(self.levels[k][offset >> k])
                offset += 1 << k
        return merkle.root_from_subtrees(subtrees)

    def body(self, size: int | None = None) -> dict[str, Any]:
        """The body of the ``heads`` entry describing this prefix (at index ``size``, by default ``self.size``)."""
        return heads.heads_body(self.size if size is None else size, self.root(), self.map_size, self.last_heads)

    def proof(self, key: str) -> dict[str, Any]:
        """The map proof of ``key`` (as ``HeadsMap.proof``), from the kept subtree hashes: O(log n) nodes."""
        p = bisect.bisect_left(self.keys, key)
        if p == len(self.keys) or self.keys[p] != key:
            raise InputError(f"the heads map has no leaf for {key}")
        self.root()
        ranges, coords = proofs.inclusion_coords(p, len(self.keys))
        path = proofs.hashes_from_nodes(ranges, {c: self.levels[c[0]][c[1]] for c in coords})
        return {"leaf": dict(self.leaves[key]), "position": p, "proof": [h.hex() for h in path]}

    def to_map(self) -> heads.HeadsMap:
        """The same map as a ``HeadsMap`` (for proofs)."""
        return heads.HeadsMap(self.leaves.values())
