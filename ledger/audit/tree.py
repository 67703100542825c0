"""The audit's tree check: rebuild every subtree hash from the leaves and compare with storage.

Leaves arrive in index order; a ``merkle.Frontier`` yields each complete subtree the moment
its last leaf arrives, and the stored hashes of those nodes are read with one range query per
level and chunk. A node whose children are already known to be wrong ("tainted": a bad entry,
a missing row, a differing child) is a consequence and is not reported again, so the finding
names the lowest node that differs. Differing level-1 nodes are kept until the end: if two of
them are explained by two entries having traded places, the finding is ``order`` at both
indexes instead of ``subtree``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, select

from ledger.core import merkle
from ledger.store.models import TreeNode

_node = TreeNode.__table__  # type: ignore[attr-defined]
Find = Callable[..., None]
_MAX_PAIRS = 256


class TreeChecker:
    def __init__(self, conn: Connection, find: Find, anchor_sizes: Iterable[int] = ()) -> None:
        self.conn = conn
        self.find = find
        self.frontier = merkle.Frontier()
        self.tainted: set[tuple[int, int]] = set()
        self.anchor_sizes = set(anchor_sizes)
        self.roots: dict[int, bytes] = {}
        self.pairs: list[tuple[int, bytes, bytes, bytes]] = []  # (pair index, stored, left, right)

    def taint(self, index: int) -> None:
        self.tainted.add((0, index))

    def add(self, start: int, leaves: list[bytes], stored: dict[tuple[int, int], bytes] | None = None) -> None:
        """Check the subtrees completed by ``leaves`` (from index ``start``); ``stored`` may bring their
        stored hashes read beforehand (``stored_for``, by the audit's worker processes)."""
        created: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            created += self.frontier.append(leaf)
            if self.frontier.size in self.anchor_sizes:
                self.roots[self.frontier.size] = self.frontier.root()
        stored = self._stored(created) if stored is None else stored
        for level, idx, h in created:
            got = stored.get((level, idx))
            if got == h:
                continue
            below = (level - 1, 2 * idx) in self.tainted or (level - 1, 2 * idx + 1) in self.tainted
            self.tainted.add((level, idx))
            if below:
                continue
            lo, hi = idx << level, (idx + 1) << level
            if got is None:
                self.find(
                    "subtree", f"stored subtree hash missing: level {level} index {idx} (leaves {lo}..{hi - 1})", lo
                )
            elif level == 1 and len(self.pairs) < _MAX_PAIRS and start <= lo and hi <= start + len(leaves):
                self.pairs.append((idx, got, leaves[lo - start], leaves[hi - 1 - start]))
            else:
                self.find(
                    "subtree",
                    f"stored subtree hash differs at level {level} index {idx} (leaves {lo}..{hi - 1}): "
                    f"expected {h.hex()}, got {got.hex()}",
                    lo,
                )

    def _stored(self, created: list[tuple[int, int, bytes]]) -> dict[tuple[int, int], bytes]:
        spans: dict[int, tuple[int, int]] = {}
        for level, idx, _ in created:
            lo, hi = spans.get(level, (idx, idx))
            spans[level] = (min(lo, idx), max(hi, idx))
        out: dict[tuple[int, int], bytes] = {}
        for level, (lo, hi) in spans.items():
            q = select(_node.c.idx, _node.c.hash).where(_node.c.level == level, _node.c.idx >= lo, _node.c.idx <= hi)
            out.update({(level, int(i)): bytes(h) for i, h in self.conn.execute(q).all()})
        return out

    def finish(self) -> None:
        """Explain differing level-1 nodes by swapped entries where possible; report the rest."""
        leaves = [(2 * j + k, leaf) for j, _, a, b in self.pairs for k, leaf in enumerate((a, b))]
        for j, stored, a, b in self.pairs:
            left, right = 2 * j, 2 * j + 1
            if merkle.node_hash(b, a) == stored:
                self._swap(left, right)
                self._swap(right, left)
                continue
            moved = self._moved(stored, a, b, left, right, leaves)
            if moved is None:
                self.find(
                    "subtree",
                    f"stored subtree hash differs at level 1 index {j} (leaves {left}..{right}): "
                    f"expected {merkle.node_hash(a, b).hex()}, got {stored.hex()}",
                    left,
                )
            else:
                self._swap(*moved)

    @staticmethod
    def _moved(stored: bytes, a: bytes, b: bytes, left: int, right: int, leaves: list[tuple[int, bytes]]) -> Any:
        for pos, x in leaves:
            if pos in (left, right):
                continue
            if merkle.node_hash(a, x) == stored:
                return right, pos
            if merkle.node_hash(x, b) == stored:
                return left, pos
        return None

    def _swap(self, here: int, belongs: int) -> None:
        self.find(
            "order",
            f"entries out of order: the entry at log index {here} was logged at index {belongs} (swapped)",
            here,
        )

    def root(self) -> bytes:
        return self.frontier.root()


def stored_for(conn: Connection, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """The stored hashes of every subtree whose last leaf is in [start, end) (a superset: one range
    query per level), for ``TreeChecker.add(start, leaves, stored)``."""
    out: dict[tuple[int, int], bytes] = {}
    level = 1
    while (1 << level) <= end:
        lo, hi = start >> level, (end >> level) - 1
        if hi >= lo:
            q = select(_node.c.idx, _node.c.hash).where(_node.c.level == level, _node.c.idx >= lo, _node.c.idx <= hi)
            out.update({(level, int(i)): bytes(h) for i, h in conn.execute(q).all()})
        level += 1
    return out
