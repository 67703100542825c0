"""The heads map of the stored log (``ledger.core.heads``): one leaf per subject and per shipment.

Computed from ``log_entry`` for the log prefix ``[0, size)``, so the anchor worker can commit it in a
``heads`` entry at index ``size`` (``append_heads``: under the log-head lock, nothing can be
appended in between):

* lots and v2 subjects: the newest entry of each (its seq, leaf hash and index), found with one
  grouped query over the ``(lot_id, seq)`` unique index; ``heads:log`` itself is not in the map;
* shipments: the signed AggregationEvents replayed in log order (ADD packs a lot, DELETE unpacks it,
  OBSERVE changes nothing: the rule of ``ledger.store.shipments.members``), with the index of the
  newest ADD or DELETE naming each SSCC.

The cost is one pass over the subjects and one over the aggregation entries: measured at 10^5
subjects by ``scripts/bench_heads.py``. An incremental sparse Merkle tree is the next step if it
grows too slow; it is not built.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from ledger.core import canonical, heads, signing, statements
from ledger.store import log as store
from ledger.store import v2log
from ledger.store.models import LogEntry
from ledger.store.shipments import sscc_from_uri

_entry = LogEntry.__table__  # type: ignore[attr-defined]
PACKING_ACTIONS = ("ADD", "DELETE")


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


def append_heads(conn: Connection, signer: signing.Signer, now: datetime) -> store.TreeHead:
    """Under the log-head lock, append the ``heads`` entry at index ``h`` (the log's size) describing
    ``[0, h)``, signed by the log key; return the head of size ``h + 1``, the one to anchor exactly.

    When the newest entry already is a ``heads`` entry (a worker stopped between appending it and
    anchoring) nothing is appended and the current head is returned: one heads entry per anchor.
    """
    head = store.lock_head(conn)
    if head.size == 0 or previous_heads(conn, head.size) == head.size - 1:
        return head
    body, _ = heads_body(conn, head.size)
    v2log.append(conn, kind="heads", ident="log", body=body, signer=signer, now=now)
    return store.read_head(conn)
