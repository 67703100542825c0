"""Full-log audit: recompute everything the ledger stores from the entries, and compare.

One pass over the log in index order, ``chunk`` entries at a time (O(n) time, O(lots + log n)
memory), checking for every entry:

- ``entry``:     log indexes are gapless (a deleted row is reported at its index)
- ``record``:    the event is canonical JSON and the indexed columns agree with it
- ``signature``: Ed25519 over the statement by a registered key; ``key``: not revoked, allowed
- ``chain``:     seq and prev link the lot's entries; transformation inputs name earlier heads
- ``leaf``:      the stored leaf hash equals SHA-256(0x00 ‖ canonical entry)
- ``subtree``:   every stored subtree hash equals the one recomputed from the entries
                 (only the lowest differing node is reported; nodes above it follow from it)
- ``order``:     two entries swapped places (found from the subtree hashes they break)

Format v2 entries (organizations, keys, products) are checked by ``ledger.audit.v2check``.

- ``heads_map``: every ``heads`` entry commits the heads map of the log before it: its ``size`` is
  its index, ``prev_heads`` the previous heads entry, ``map_root`` / ``map_size`` those of the map
  recomputed from the entries (recomputed leaf hashes, not the stored column). The map is kept
  incrementally while scanning (``ledger.core.heads_state``), in log order also with the process
  pool: one pass, and at each heads entry only the map nodes changed since the previous one are
  hashed again. A lying heads entry (a wrong root, a subject left out) is reported at its index.

and then: ``root`` (the head and the stored subtrees give the recomputed root), ``lot_head``
(each lot row's head and signed fields), ``anchor_root`` (each anchor's stored root is the
recomputed root at its size), ``anchor_chain`` (the chain holds that root; the chain is not
ahead of the log) and ``anchor_consistency`` (a consistency proof links successive anchors).
The per-entry checks are those of ``ledger.core.chaincheck``, shared with ``/verify`` and the
bundle verifier. The chain is optional and passed in: a ``ledger.core.ports.ChainReader`` (a stub
may leave out ``chain_id``, ``address`` and ``latest_tree_size``; those checks are then skipped).
"""

from __future__ import annotations

import time

from sqlalchemy import Engine

from ledger.audit import pool
from ledger.audit.checks import (
    AuditReport,
    Finding,
    Progress,
    _Auditor,
    _check_anchors,
    _check_root,
    audit_chunk,
    merge_chunk,
)
from ledger.audit.tree import TreeChecker
from ledger.core.ports import ChainReader
from ledger.store import log as store
from ledger.store.anchors import confirmed_anchors as stored_anchors
from ledger.store.db import read_tx

__all__ = ["AuditReport", "Finding", "Progress", "audit", "audit_chunk", "merge_chunk"]


def audit(
    engine: Engine,
    *,
    chain: ChainReader | None = None,
    chunk: int = 10_000,
    progress: Progress | None = None,
    max_findings: int = 1000,
    processes: int = 1,
) -> AuditReport:
    """Audit the whole log; the report lists every difference found (empty when all is sound).

    With ``processes`` > 1 the chunks are checked by a process pool (``ledger.audit.pool``) and
    merged in log order: the same findings, on every core.
    """
    t0 = time.perf_counter()
    with read_tx(engine) as conn:
        a = _Auditor(conn, max_findings)
        head = store.read_head(conn)
        a.report.tree_size, a.report.root = head.size, head.root.hex()
        anchors = stored_anchors(conn)
        tree = TreeChecker(conn, a.find, {x["tree_size"] for x in anchors})
        chunk = max(2, chunk - chunk % 2)  # even, so level-1 pairs never straddle two chunks
        if processes > 1 and head.size > chunk:  # one chunk is not worth starting processes
            pool.audit_chunks(engine, a, tree, head.size, chunk, processes, progress)
        else:
            a.prefetch()
            for start in range(0, head.size, chunk):
                end = min(start + chunk, head.size)
                merge_chunk(a, tree, start, end, *audit_chunk(a, conn, start, end))
                if progress:
                    progress(end, head.size)
        tree.finish()
        _check_root(a, conn, head, tree.root(), bool(tree.tainted))
        a.lot_heads()
        a.inputs()
        a.tables()
        _check_anchors(a, conn, anchors, tree.roots, chain, head.size)
    a.report.findings.sort(key=lambda f: (f.index is None, f.index or 0))
    a.report.seconds = time.perf_counter() - t0
    return a.report
