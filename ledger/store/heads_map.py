"""The heads map of the stored log (``ledger.core.heads``): one leaf per subject and per shipment.

Two ways to the same map (equal on every log: ``tests/store/test_heads_incremental.py``):

* **from scratch** (``heads_map``, ``heads_body``) for the log prefix ``[0, size)``: the newest
  entry of each lot and v2 subject with one grouped query over the ``(lot_id, seq)`` unique index
  (``heads:log`` itself is not in the map), and the shipments by replaying the signed
  AggregationEvents in log order (ADD packs a lot, DELETE unpacks it, OBSERVE changes nothing: the
  rule of ``ledger.store.shipments.members``), with the index of the newest ADD or DELETE naming each
  SSCC. One pass over the subjects and one over the aggregations: seconds at 10^5 subjects.
* **incremental** (``MapCache``, ``apply_op``): a ``ledger.core.heads_state.MapState`` fed the
  entries since the state's size (``map_op`` is the rule, shared with the full-log audit).

``append_heads`` appends the ``heads`` entry at the log's size ``h`` under the log-head lock (nothing
can be appended in between), which blocks every writer, the sequencer included, while it runs. With
a ``MapCache`` (the anchor worker keeps one) the lock is held only for the entries since the cache's
size and the re-hashing of the map nodes they change. Design (``docs/heads-map-design.md``):

1. Entries below the committed size ``h0`` are immutable (the log is append-only), so the worker
   brings its cache to ``h0`` *without* the lock (``MapCache.advance`` in a read transaction);
   the first time, or after a restart, that is one from-scratch build; afterwards only the entries
   since the previous anchor are read.
2. Under the lock it reads the head ``h``, applies only ``[h0, h)`` (what writers appended
   meanwhile), and appends the heads entry at ``h`` with the state's body.
3. The cache is checked against the log: passing a ``heads`` entry (its own, or one appended by
   another worker process) it compares that entry's body with its own state at that index; on any
   difference, or when the log is shorter than the cache (a restore), it drops itself and rebuilds
   from scratch. Several workers each keep their own cache; the lock serializes their appends.

No table of map leaves is persisted: the map is derived from the log, every writer would have to
update such a table in its append transaction (the sequencer's group append included), and a
second copy of the truth can drift; a worker restart costs one from-scratch build outside the lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, func, select

from ledger.core import canonical, heads, signing, statements
from ledger.core.heads_state import MapState
from ledger.errors import ConflictError
from ledger.store import log as store
from ledger.store import v2log
from ledger.store.db import read_tx
from ledger.store.models import LogEntry
from ledger.store.shipments import sscc_from_uri

_entry = LogEntry.__table__  # type: ignore[attr-defined]
PACKING_ACTIONS = ("ADD", "DELETE")
log = logging.getLogger(__name__)


def subject_leaves(conn: Connection, size: int) -> list[dict[str, Any]]:
    """The leaf of every lot and v2 subject (except ``heads:log``) with entries in ``[0, size)``."""
    newest = (
        select(_entry.c.lot_id, func.max(_entry.c.seq).label("seq"))
        .where(_entry.c.idx < size)
        .group_by(_entry.c.lot_id)
        .subquery()
    )
    rows = conn.execute(
        select(_entry.c.lot_id, _entry.c.seq, _entry.c.idx, _entry.c.leaf_hash, _entry.c.event_type).join(
            newest, and_(_entry.c.lot_id == newest.c.lot_id, _entry.c.seq == newest.c.seq)
        )
    )
    leaves = []
    for r in rows:
        if r.lot_id == statements.HEADS_SUBJECT:
            continue
        key = str(r.lot_id) if r.event_type in statements.KINDS else heads.lot_key(str(r.lot_id))
        leaves.append(heads.head_leaf(key, int(r.seq), bytes(r.leaf_hash), int(r.idx)))
    return leaves


def shipment_leaves(conn: Connection, size: int) -> list[dict[str, Any]]:
    """The leaf of every shipment named by a signed ADD or DELETE aggregation in ``[0, size)``."""
    q = (
        select(_entry.c.idx, _entry.c.lot_id, _entry.c.event)
        .where(_entry.c.event_type == "AggregationEvent", _entry.c.idx < size)
        .order_by(_entry.c.idx)
    )
    inside: dict[str, set[str]] = {}
    newest: dict[str, int] = {}
    for row in conn.execute(q):
        ev = canonical.from_canonical(str(row.event).encode())
        sscc = sscc_from_uri(ev.get("parentID"))
        if sscc is None or ev.get("action") not in PACKING_ACTIONS:
            continue
        lots = inside.setdefault(sscc, set())
        (lots.add if ev["action"] == "ADD" else lots.discard)(str(row.lot_id))
        newest[sscc] = int(row.idx)
    return [heads.shipment_leaf(sscc, inside[sscc], newest[sscc]) for sscc in sorted(inside)]


def heads_map(conn: Connection, size: int) -> heads.HeadsMap:
    """The sorted map of the log prefix ``[0, size)``."""
    return heads.HeadsMap([*subject_leaves(conn, size), *shipment_leaves(conn, size)])


def heads_entries(conn: Connection, before: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(log index, body) of the stored ``heads`` entries, oldest first (those below ``before`` if given)."""
    q = select(_entry.c.idx, _entry.c.event).where(_entry.c.lot_id == statements.HEADS_SUBJECT)
    if before is not None:
        q = q.where(_entry.c.idx < before)
    return [
        (int(r.idx), canonical.from_canonical(str(r.event).encode())) for r in conn.execute(q.order_by(_entry.c.idx))
    ]


def previous_heads(conn: Connection, size: int) -> int | None:
    """The log index of the newest ``heads`` entry below ``size`` (the next entry's ``prev_heads``)."""
    idx = conn.execute(
        select(func.max(_entry.c.idx)).where(_entry.c.lot_id == statements.HEADS_SUBJECT, _entry.c.idx < size)
    ).scalar()
    return None if idx is None else int(idx)


def heads_body(conn: Connection, size: int) -> tuple[dict[str, Any], heads.HeadsMap]:
    """The body of the ``heads`` entry to append at index ``size``, and its map."""
    m = heads_map(conn, size)
    return heads.heads_body(size, m.root, m.size, previous_heads(conn, size)), m


class MapOp(NamedTuple):
    """What one log entry does to the heads map (``map_op``); plain values, so the audit's worker processes
    can send it to the process that keeps the map."""

    idx: int
    subject: str
    seq: int
    leaf: bytes
    v2: bool
    packing: tuple[str, str] | None  # (sscc, action) of a signed ADD or DELETE aggregation
    body: dict[str, Any] | None  # a heads entry's body (None for other entries, or when unreadable)


def map_op(idx: int, subject: str, seq: int, leaf: bytes, event_type: str, event: str) -> MapOp:
    """The rule of the map for one entry (the same as the from-scratch queries of this module).

    Raises ``ValueError`` (``InputError``) when an aggregation's event cannot be read; a heads entry whose
    body cannot be read gives ``body`` None.
    """
    packing = None
    if event_type == "AggregationEvent":
        ev = canonical.from_canonical(event.encode())
        sscc = sscc_from_uri(ev.get("parentID"))
        if sscc is not None and ev.get("action") in PACKING_ACTIONS:
            packing = (sscc, str(ev["action"]))
    body = None
    if subject == statements.HEADS_SUBJECT:
        try:
            body = canonical.from_canonical(event.encode())
        except ValueError:
            body = None
    v2 = event_type in statements.KINDS
    return MapOp(idx, subject, seq, leaf, v2, packing, body if isinstance(body, dict) else None)


def apply_op(state: MapState, op: MapOp | tuple[Any, ...]) -> None:
    """Feed one entry to the map (after ``heads_difference`` for a heads entry): the state then describes
    the log up to and including it. ``op`` may be a ``MapOp``'s plain tuple (as the audit's workers send it)."""
    idx, subject, seq, leaf, v2, packing, _ = op
    if subject == statements.HEADS_SUBJECT:
        state.last_heads = idx
    else:
        state.set_head(subject if v2 else heads.lot_key(subject), seq, leaf, idx)
        if packing is not None:
            state.pack(packing[0], subject, packing[1], idx)
    state.size = idx + 1


def heads_difference(state: MapState, op: MapOp) -> str | None:
    """How the heads entry ``op`` differs from the map ``state`` of the log before it; None when it agrees.

    ``state`` must describe exactly the entries ``[0, op.idx)``.
    """
    if op.body is None:
        return f"heads entry at index {op.idx}: its body is not a JSON object"
    want = state.body(op.idx)
    wrong = [f"{k}: expected {want[k]!r}, got {op.body.get(k)!r}" for k in sorted(want) if op.body.get(k) != want[k]]
    extra = sorted(set(op.body) - set(want))
    if extra:
        wrong.append(f"unexpected fields {extra}")
    if not wrong:
        return None
    return f"heads entry at index {op.idx} does not commit the log's heads map: " + "; ".join(wrong)


def ops(conn: Connection, start: int, end: int) -> Iterator[MapOp]:
    """What the entries ``[start, end)`` do to the map, in log order."""
    q = (
        select(_entry.c.idx, _entry.c.lot_id, _entry.c.seq, _entry.c.leaf_hash, _entry.c.event_type, _entry.c.event)
        .where(_entry.c.idx >= start, _entry.c.idx < end)
        .order_by(_entry.c.idx)
    )
    for r in conn.execute(q):
        yield map_op(int(r.idx), str(r.lot_id), int(r.seq), bytes(r.leaf_hash), str(r.event_type), str(r.event))


def state_from_scratch(conn: Connection, size: int) -> MapState:
    """The map of ``[0, size)`` from the grouped queries, as an incremental state."""
    return MapState([*subject_leaves(conn, size), *shipment_leaves(conn, size)], size, previous_heads(conn, size))


class MapCache:
    """The anchor worker's heads map, carried from anchor to anchor (module doc): ``advance`` reads only the
    entries since its size, checking every heads entry it passes; it rebuilds from scratch the first time,
    when the log is shorter than the cache, or when a heads entry disagrees with it."""

    def __init__(self) -> None:
        self.state: MapState | None = None
        self.rebuilds = 0

    def advance(self, conn: Connection, size: int) -> MapState:
        """The state of ``[0, size)``: the cached one brought forward, or a new one."""
        st = self.state
        if st is not None and st.size <= size:
            for op in ops(conn, st.size, size):
                problem = heads_difference(st, op) if op.subject == statements.HEADS_SUBJECT else None
                if problem is not None:
                    log.warning("heads map cache: %s; rebuilding it from the log", problem)
                    break
                apply_op(st, op)
            else:
                st.size = size
                return st
        elif st is not None:
            log.warning("heads map cache: the log has %d entries, the cache %d; rebuilding it", size, st.size)
        self.state = state_from_scratch(conn, size)
        self.rebuilds += 1
        return self.state

    def catch_up(self, engine: Engine) -> int:
        """Outside the log-head lock: bring the cache to the committed log and hash it; return its size."""
        with read_tx(engine) as conn:
            st = self.advance(conn, store.read_head(conn).size)
            st.root()
        return st.size


class _ServedMaps:
    """The map of the newest heads entry that bundles were served at, per database, carried forward.

    A bundle needs the map of the heads entry its anchor ends with, and proofs in it. Computing it from
    scratch per request costs seconds at 10^5 subjects (and ``HeadsMap.proof`` a pass over the leaves);
    here a state is kept per database and brought forward by the entries since (bundles are served at the
    newest anchor, so requests move forward), and its proofs come from the kept subtree hashes. The root is
    checked against the signed ``map_root`` on every request; on a difference the state is rebuilt from
    scratch, and if that differs too the log no longer gives the signed map (``ConflictError``). A request
    for an older heads entry is answered from scratch. Threads of one process share it under a lock.
    """

    MAX_DATABASES = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, MapState] = {}

    def proofs(self, conn: Connection, h: int, map_root: str, keys: list[str]) -> list[dict[str, Any]]:
        db = conn.engine.url.render_as_string(hide_password=True)
        with self._lock:
            st = self._states.pop(db, None)
            if st is not None and st.size <= h:
                for op in ops(conn, st.size, h):
                    apply_op(st, op)
                st.size = h
            if st is None or st.size != h or st.root().hex() != map_root:
                st = state_from_scratch(conn, h)
            if st.root().hex() != map_root:
                raise ConflictError(
                    f"the stored log no longer gives the heads map signed at index {h}: refusing to bundle"
                )
            self._states[db] = st  # newest last; the oldest database is dropped beyond MAX_DATABASES
            while len(self._states) > self.MAX_DATABASES:
                self._states.pop(next(iter(self._states)))
            return [st.proof(k) for k in keys]


_served = _ServedMaps()


def committed_proofs(conn: Connection, h: int, map_root: str, keys: list[str]) -> list[dict[str, Any]]:
    """Map proofs of ``keys`` in the map of the heads entry at index ``h``, whose signed root is ``map_root``
    (``ConflictError`` when the stored log no longer gives that root; ``InputError`` for a key not in it)."""
    return _served.proofs(conn, h, map_root, keys)


def append_heads(
    conn: Connection, signer: signing.Signer, now: datetime, cache: MapCache | None = None
) -> store.TreeHead:
    """Under the log-head lock, append the ``heads`` entry at index ``h`` (the log's size) describing
    ``[0, h)``, signed by the log key; return the head of size ``h + 1``, the one to anchor exactly.

    With ``cache`` (brought to the committed log beforehand, ``MapCache.catch_up``) only the entries
    appended since are read under the lock; without it the map is computed from scratch.
    When the newest entry already is a ``heads`` entry (a worker stopped between appending it and
    anchoring) nothing is appended and the current head is returned: one heads entry per anchor.
    """
    head = store.lock_head(conn)
    if head.size == 0 or previous_heads(conn, head.size) == head.size - 1:
        return head
    body = heads_body(conn, head.size)[0] if cache is None else cache.advance(conn, head.size).body()
    v2log.append(conn, kind="heads", ident="log", body=body, signer=signer, now=now)
    return store.read_head(conn)
