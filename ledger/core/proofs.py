"""Plans for serving roots and proofs from stored subtree hashes (pure, no I/O).

A store keeps the hash of every complete subtree, node (level k, index j) covering leaves
``[j·2^k, (j+1)·2^k)``. Any RFC 9162 root or proof needs O(log n) such nodes: these functions
say which (``*_coords``), and assemble the answer from the nodes the store read
(``root_from_nodes``, ``hashes_from_nodes``). Nothing ever rebuilds the tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ledger.core.merkle import (
    EMPTY_ROOT,
    Range,
    consistency_ranges,
    inclusion_ranges,
    root_from_subtrees,
    subtree_ranges,
)
from ledger.errors import VerificationError

Coord = tuple[int, int]
"""A stored node: (level, index). Level 0 nodes are leaf hashes."""


def range_coords(r: Range) -> list[Coord]:
    """The stored nodes that make up the tree hash of a proof range."""
    out = []
    for start, end in subtree_ranges(*r):
        level = (end - start).bit_length() - 1
        out.append((level, start >> level))
    return out


def root_coords(size: int) -> list[Coord]:
    """The nodes whose fold is the root of the tree of ``size`` leaves."""
    return range_coords((0, size)) if size else []


def inclusion_coords(index: int, size: int) -> tuple[list[Range], set[Coord]]:
    ranges = inclusion_ranges(index, size)
    return ranges, _coords(ranges)


def consistency_coords(size1: int, size2: int) -> tuple[list[Range], set[Coord]]:
    ranges = consistency_ranges(size1, size2)
    return ranges, _coords(ranges)


def _coords(ranges: Iterable[Range]) -> set[Coord]:
    return {c for r in ranges for c in range_coords(r)}


def _take(nodes: Mapping[Coord, bytes], coord: Coord) -> bytes:
    try:
        return nodes[coord]
    except KeyError:
        raise VerificationError(
            f"stored subtree hash is missing: expected node level {coord[0]} index {coord[1]}"
        ) from None


def root_from_nodes(size: int, nodes: Mapping[Coord, bytes]) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return root_from_subtrees([_take(nodes, c) for c in root_coords(size)])


def hashes_from_nodes(ranges: Sequence[Range], nodes: Mapping[Coord, bytes]) -> list[bytes]:
    return [root_from_subtrees([_take(nodes, c) for c in range_coords(r)]) for r in ranges]
