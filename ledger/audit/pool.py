"""The full-log audit on every core: a process pool over chunks of the log.

Ed25519 verification bounds the audit (libsodium: about 10,000 signatures per second per core on the
reference 2-core machine, some 60% of the audit's time), so each
worker process runs the audit's own per-chunk check (``ledger.audit.auditor.audit_chunk``: record,
signature, key, leaf and the lot chains inside the chunk) on its own connection, and the main
process merges the chunks in log order. What depends on earlier chunks is done in the merge:

- the chain link of each lot's (and format v2 subject's) first entry in a chunk (the worker does not know the lot's head
  before its chunk, so it takes that entry's ``seq``/``prev`` as given and reports them; the main
  process checks them with the same ``_Auditor._link`` rule, ``ledger.core.chaincheck.check_link``,
  against the head carried over from earlier chunks);
- the lots' heads and signed fields, carried over chunk by chunk for ``lot_heads``;
- the subtree hashes and roots (``TreeChecker``), fed with the workers' recomputed leaves and the
  stored subtree hashes they read;
- the heads map (``heads_map`` check): the workers say what each entry does to it
  (``ledger.store.heads_map.MapOp``), the main process applies that in log order and compares each
  heads entry with it.

The findings are those of the single-process audit (only their order within one index may differ).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ledger.audit.checks import AuditReport, Finding, Progress, _Auditor, _LotState, audit_chunk, merge_chunk
from ledger.audit.tree import TreeChecker, stored_for
from ledger.store.db import make_engine, read_tx


@dataclass(frozen=True)
class _First:
    """A lot's first entry in a chunk: what its link to the earlier chunks is checked with."""

    idx: int
    seq: int
    prev: str | None
    leaf: bytes
    stored_leaf: bytes


@dataclass
class _ChunkResult:
    """What a worker sends back, in plain tuples (a dataclass or named tuple per lot or entry made the
    pickling cost as much as a tenth of the audit)."""

    start: int
    end: int
    leaves: list[bytes]
    tainted: list[int]
    findings: list[Finding]
    truncated: bool
    firsts: dict[str, tuple[int, int, str | None, bytes, bytes]]  # _First's fields
    lots: dict[str, tuple[int, str | None, str | None, dict[str, Any] | None]]  # _LotState's fields
    input_refs: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)
    stored: dict[tuple[int, int], bytes] = field(default_factory=dict)  # the chunk's stored subtree hashes
    map_ops: list[tuple[Any, ...]] = field(default_factory=list)  # the chunk's MapOps (heads map), as tuples
    v2_firsts: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)  # (idx, seq, prev)
    v2_heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # each v2 subject's last (seq, leaf)


class _ChunkAuditor(_Auditor):
    """The audit's checks on one chunk; a lot's first entry in the chunk starts its chain."""

    def begin(self) -> None:
        self.report = AuditReport()
        self.lots = {}
        self.input_refs = []
        self.firsts: dict[str, _First] = {}
        self.map_ops = []
        self.v2.heads, self.v2.firsts, self.v2.defer_first = {}, {}, True

    def _link(self, idx: int, lot: str, stmt: Any, leaf: bytes, stored_leaf: bytes) -> None:
        if lot not in self.lots:  # linked to the earlier chunks in the merge (module doc)
            seq, prev = int(stmt["seq"]), stmt.get("prev")
            self.firsts[lot] = _First(idx, seq, prev, leaf, stored_leaf)
            self.lots[lot] = _LotState(seq - 1, prev)
        super()._link(idx, lot, stmt, leaf, stored_leaf)


_worker: tuple[Engine, _ChunkAuditor] | None = None


def _init(url: str, max_findings: int) -> None:
    global _worker
    # the objects inherited from the parent (fork) are never garbage here: left out of the cyclic GC's
    # passes, which would otherwise walk (and copy-on-write) the parent's whole heap again and again
    gc.freeze()
    engine = make_engine(url)
    with read_tx(engine) as conn:
        _worker = (engine, _ChunkAuditor(conn, max_findings))


def _check(bounds: tuple[int, int]) -> _ChunkResult:
    assert _worker is not None, "worker not initialized"
    engine, a = _worker
    start, end = bounds
    a.begin()
    with read_tx(engine) as conn:
        leaves, tainted = audit_chunk(a, conn, start, end)
        stored = stored_for(conn, start, end)
    r = a.report
    firsts = {lot: (f.idx, f.seq, f.prev, f.leaf, f.stored_leaf) for lot, f in a.firsts.items()}
    lots = {lot: (st.seq, st.head, st.stored_head, st.fields) for lot, st in a.lots.items()}
    ops = [tuple(op) for op in a.map_ops]
    return _ChunkResult(
        start, end, leaves, tainted, r.findings, r.truncated, firsts, lots, a.input_refs, stored, ops,
        a.v2.firsts, a.v2.heads,
    )  # fmt: skip


_MIN_CHUNK = 256


def _ranges(size: int, chunk: int, processes: int) -> Iterator[tuple[int, int]]:
    """Chunks of at most ``chunk`` entries that shrink towards the end of the log: each is a
    1/(2·processes) share of what is left (at least ``_MIN_CHUNK``, always even as the tree check
    needs). Big chunks cost less per entry (each sends back its lots' state); small last ones let the
    workers finish together instead of one waiting for the other's last big chunk."""
    start = 0
    while start < size:
        n = min(chunk, max(_MIN_CHUNK, (size - start) // (2 * processes)))
        end = min(start + n - n % 2, size)
        yield start, end
        start = end


def audit_chunks(
    engine: Engine, a: _Auditor, tree: TreeChecker, size: int, chunk: int, processes: int, progress: Progress | None
) -> None:
    """Check the log's ``size`` entries in chunks on ``processes`` worker processes, merging into ``a`` and ``tree``."""
    url = engine.url.render_as_string(hide_password=False)
    # fork starts a worker in milliseconds (spawn re-imports everything: seconds on a busy machine). A
    # forked worker opens its own engine and never touches the parent's connections, which it keeps
    # referenced (never closed: closing would end the parent's PostgreSQL sessions) until os._exit.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(processes, initializer=_init, initargs=(url, a.max_findings)) as pool:
        results = pool.imap(_check, _ranges(size, chunk, processes))
        a.prefetch()  # while the workers check the first chunks
        for res in results:
            _merge(a, tree, res)
            if progress:
                progress(res.end, size)


def _merge(a: _Auditor, tree: TreeChecker, res: _ChunkResult) -> None:
    for f in res.findings:
        a.find(f.check, f.message, f.index, f.lot)
    a.report.truncated |= res.truncated
    for lot, (idx, seq, prev, leaf, stored_leaf) in res.firsts.items():  # the link to the head carried over
        a._link(idx, lot, {"lot": lot, "seq": seq, "prev": prev}, leaf, stored_leaf)
    lots = a.lots
    for lot, (seq, head, stored_head, fields) in res.lots.items():
        cur = lots.get(lot)
        if cur is None:
            cur = lots[lot] = _LotState()
        cur.seq, cur.head, cur.stored_head = seq, head, stored_head
        if fields is not None:
            cur.fields = fields
    for subject, (idx, seq, prev) in res.v2_firsts.items():  # format v2 subjects, likewise
        a.v2.link(subject, idx, seq, prev, a.find)
    a.v2.heads.update(res.v2_heads)
    a.input_refs.extend(res.input_refs)
    a.map_ops = res.map_ops  # plain tuples: ``_Auditor.heads_map`` takes them as they are
    merge_chunk(a, tree, res.start, res.end, res.leaves, res.tainted, res.stored)
