"""Edits made directly in the database are caught: the verdict is ``tampered`` and names the entry.

The log holds three lots whose entries interleave (see ``tests.helpers.seed``): 15 entries, and
lot B (the one tampered with) has seq 0..4 at log indexes 1, 4, 7, 10, 13.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, text

from ledger.core import proofs
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.db import read_tx
from tests.helpers import seed, transformation


@dataclass
class Log:
    lot: str  # lot B
    other: str  # lot A
    idx: dict[tuple[str, int], int]  # (lot, seq) -> log index
    size: int


def _log(ledger: Ledger) -> Log:
    sc = seed(ledger)
    with read_tx(ledger.engine) as conn:
        idx = {(r.lot_id, r.seq): r.idx for lot in sc.lots for r in store.lot_entries(conn, lot)}
        size = store.read_head(conn).size
    log = Log(sc.lots[1], sc.lots[0], idx, size)
    assert size == 15 and [log.idx[log.lot, s] for s in range(5)] == [1, 4, 7, 10, 13]
    return log


def sql(conn: Connection, stmt: str, **params: Any) -> None:
    res = conn.execute(text(stmt), params)
    assert res.rowcount >= 1, f"tamper statement changed nothing: {stmt}"


def _swap(conn: Connection, a: int, b: int, columns: str = "idx") -> None:
    """Swap two log entries' ``idx`` (their places in the log), or some of their columns."""
    if columns == "idx":
        sql(conn, "UPDATE log_entry SET idx = -1 WHERE idx = :a", a=a)
        sql(conn, "UPDATE log_entry SET idx = :a WHERE idx = :b", a=a, b=b)
        sql(conn, "UPDATE log_entry SET idx = :b WHERE idx = -1", b=b)
        return
    cols = columns.split(",")
    ra = conn.execute(text(f"SELECT {columns} FROM log_entry WHERE idx = :i"), {"i": a}).one()
    rb = conn.execute(text(f"SELECT {columns} FROM log_entry WHERE idx = :i"), {"i": b}).one()
    assigns = ", ".join(f"{c} = :{c}" for c in cols)
    sql(conn, f"UPDATE log_entry SET {assigns} WHERE idx = :i", i=a, **dict(zip(cols, rb, strict=True)))
    sql(conn, f"UPDATE log_entry SET {assigns} WHERE idx = :i", i=b, **dict(zip(cols, ra, strict=True)))


def _inner_node_of_first_proof(log: Log) -> tuple[int, proofs.Coord]:
    """The first of lot B's entries whose inclusion proof reads a stored inner node that is not
    itself part of the root (so only inclusion proofs use it); that seq and node."""
    frontier = set(proofs.root_coords(log.size))
    for seq in range(5):
        _, coords = proofs.inclusion_coords(log.idx[log.lot, seq], log.size)
        inner = sorted(c for c in coords if c[0] > 0 and c not in frontier)
        if inner:
            return seq, inner[-1]
    raise AssertionError("no entry of lot B uses an inner node")


FORGED = hashlib.sha256(b"forged").digest()

# name -> (tamper(conn, log) -> expected (seq, check)); seq None means "no entry to name"
Tamper = Callable[[Connection, Log], tuple[int | None, str]]


def t_event_field(conn: Connection, log: Log) -> tuple[int | None, str]:
    # the note of lot B's seq 2 is "lô PH-2026-07-B bước 2": still canonical JSON after the edit
    sql(conn, "UPDATE log_entry SET event = REPLACE(event, 'bước 2', 'bước 9') WHERE idx = :i", i=log.idx[log.lot, 2])
    return 2, "signature"


def t_event_quantity(conn: Connection, log: Log) -> tuple[int | None, str]:
    # the commissioning entry's 1200 kg become 12000 kg
    sql(conn, "UPDATE log_entry SET event = REPLACE(event, '1200,', '12000,') WHERE idx = :i", i=log.idx[log.lot, 0])
    return 0, "signature"


def t_event_not_canonical(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE log_entry SET event = REPLACE(event, '\",\"', '\", \"') WHERE idx = :i", i=log.idx[log.lot, 3])
    return 3, "record"


def t_event_column(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE log_entry SET biz_step = 'inspecting' WHERE idx = :i", i=log.idx[log.lot, 1])
    return 1, "record"


def t_signature(conn: Connection, log: Log) -> tuple[int | None, str]:
    i, j = log.idx[log.lot, 2], log.idx[log.lot, 3]
    sql(conn, "UPDATE log_entry SET sig = (SELECT sig FROM log_entry WHERE idx = :j) WHERE idx = :i", i=i, j=j)
    return 2, "signature"


def t_leaf_hash(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE log_entry SET leaf_hash = :h WHERE idx = :i", h=FORGED, i=log.idx[log.lot, 2])
    return 2, "leaf"


def t_subtree_hash(conn: Connection, log: Log) -> tuple[int | None, str]:
    seq, (level, idx) = _inner_node_of_first_proof(log)
    sql(conn, "UPDATE tree_node SET hash = :h WHERE level = :l AND idx = :i", h=FORGED, l=level, i=idx)
    return seq, "inclusion"


def t_root_subtree_hash(conn: Connection, log: Log) -> tuple[int | None, str]:
    # node (3, 0) covers indexes 0-7 and is part of the root at size 15: lot B's seq 3 (index 10)
    # is the first entry whose inclusion proof reads it
    sql(conn, "UPDATE tree_node SET hash = :h WHERE level = 3 AND idx = 0", h=FORGED)
    return 3, "inclusion"


def t_deleted_subtree_hash(conn: Connection, log: Log) -> tuple[int | None, str]:
    seq, (level, idx) = _inner_node_of_first_proof(log)
    sql(conn, "DELETE FROM tree_node WHERE level = :l AND idx = :i", l=level, i=idx)
    return seq, "inclusion"


def t_head_root(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE log_head SET root = :h", h=FORGED)
    return 0, "inclusion"


def t_delete_middle(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "DELETE FROM log_entry WHERE idx = :i", i=log.idx[log.lot, 2])
    return 3, "chain"  # seq 3 now follows seq 1: "sequence number out of order: expected 2, got 3"


def t_delete_first(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "DELETE FROM log_entry WHERE idx = :i", i=log.idx[log.lot, 0])
    return 1, "chain"


def t_delete_newest(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "DELETE FROM log_entry WHERE idx = :i", i=log.idx[log.lot, 4])
    return 4, "chain"  # the lot's head names seq 4, which is gone


def t_swap_places(conn: Connection, log: Log) -> tuple[int | None, str]:
    _swap(conn, log.idx[log.lot, 1], log.idx[log.lot, 3])
    return 3, "chain"  # in log order seq 3 now comes second


def t_swap_contents(conn: Connection, log: Log) -> tuple[int | None, str]:
    _swap(conn, log.idx[log.lot, 1], log.idx[log.lot, 3], "event,event_type,biz_step,event_time,sig,leaf_hash")
    return 1, "signature"


def t_swap_with_other_lot(conn: Connection, log: Log) -> tuple[int | None, str]:
    _swap(conn, log.idx[log.lot, 1], log.idx[log.other, 1])  # indexes 4 and 3: lot order unchanged
    return 1, "inclusion"


def t_lot_origin(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE lot SET origin_province = 'Bến Tre' WHERE lot_id = :l", l=log.lot)
    return 0, "record"  # the commissioning entry signed the origin


def t_lot_plot(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE lot SET plot_area_ha = 25 WHERE lot_id = :l", l=log.lot)
    return 0, "record"


def t_lot_quantity(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE lot SET quantity = 12000 WHERE lot_id = :l", l=log.lot)
    return 0, "record"  # signed in the commissioning event's quantityList


def t_lot_head(conn: Connection, log: Log) -> tuple[int | None, str]:
    sql(conn, "UPDATE lot SET head_hash = :h WHERE lot_id = :l", h=FORGED.hex(), l=log.lot)
    return 4, "chain"


def t_signer_swapped(conn: Connection, log: Log) -> tuple[int | None, str]:
    # claim another organization's key signed it
    sql(
        conn,
        "UPDATE log_entry SET signer = 'ed25519:' || :k WHERE idx = :i",
        k=hashlib.sha256(b"nobody").hexdigest(),
        i=log.idx[log.lot, 2],
    )
    return 2, "signature"


MESSAGES = {
    "event-field": "signature does not verify",
    "event-not-canonical": "stored event is not in canonical form",
    "event-column": "column biz_step disagrees with the signed event: expected 'ocop:harvesting', got 'inspecting'",
    "signer": "signer is not a registered key",
    "leaf-hash": "stored leaf hash differs from the entry's",
    "subtree-hash": "inclusion proof gives a different root",
    "deleted-subtree-hash": "no inclusion proof for log index",
    "delete-middle-entry": "sequence number out of order: expected 2, got 3",
    "delete-first-entry": "sequence number out of order: expected 0, got 1",
    "delete-newest-entry": "lot head says seq 4 .* but the newest stored entry is seq 3",
    "lot-origin": "lot field origin_province differs from the signed commissioning event: expected 'Lâm Đồng'",
    "lot-quantity": "lot field quantity differs from the signed commissioning event: expected 1200, got 12000",
}

TAMPERS: dict[str, Tamper] = {
    "event-field": t_event_field,
    "event-quantity": t_event_quantity,
    "event-not-canonical": t_event_not_canonical,
    "event-column": t_event_column,
    "signature": t_signature,
    "signer": t_signer_swapped,
    "leaf-hash": t_leaf_hash,
    "subtree-hash": t_subtree_hash,
    "root-subtree-hash": t_root_subtree_hash,
    "deleted-subtree-hash": t_deleted_subtree_hash,
    "head-root": t_head_root,
    "delete-middle-entry": t_delete_middle,
    "delete-first-entry": t_delete_first,
    "delete-newest-entry": t_delete_newest,
    "swap-places": t_swap_places,
    "swap-contents": t_swap_contents,
    "swap-with-other-lot": t_swap_with_other_lot,
    "lot-origin": t_lot_origin,
    "lot-plot": t_lot_plot,
    "lot-quantity": t_lot_quantity,
    "lot-head": t_lot_head,
}


def test_untampered_lots_are_pending(ledger: Ledger) -> None:
    log = _log(ledger)
    for lot in {lot for lot, _ in log.idx}:
        report = ledger.verify_lot(lot)
        assert (report.verdict, report.failure) == ("pending", None)
        assert [e.seq for e in report.entries] == [0, 1, 2, 3, 4]
        assert all(e.checks["inclusion"] == "ok" and e.checks["anchor"] == "pending" for e in report.entries)
    assert ledger.verify_lot(log.lot[:15] + "NO-SUCH-LOT").verdict == "not_found"


@pytest.mark.parametrize("name", list(TAMPERS))
def test_tampering_is_detected_and_named(ledger: Ledger, name: str) -> None:
    log = _log(ledger)
    with ledger.engine.begin() as conn:
        seq, check = TAMPERS[name](conn, log)
    report = ledger.verify_lot(log.lot)
    assert report.verdict == "tampered"
    assert report.failure is not None
    assert (report.failure.seq, report.failure.check) == (seq, check), report.failure
    if name in MESSAGES:
        assert re.search(MESSAGES[name], report.failure.message), report.failure.message
    named = [e for e in report.entries if e.index == report.failure.index]
    if report.failure.index is not None:  # the entry is stored: its row in the report shows the failure
        [entry] = named
        assert entry.seq == seq
        assert (entry.checks[check], entry.error) == ("failed", report.failure.message)
    else:  # the entry is gone
        assert named == [] and seq not in {e.seq for e in report.entries}
    assert report.to_json()["failure"]["check"] == check


def test_transformation_input_heads_are_checked(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=1)
    a, b, out = sc.lots
    [res] = ledger.record(sc.org, [{"lot": out, "event": transformation([a, b])}])
    assert ledger.verify_lot(out).verdict == "pending"
    with read_tx(ledger.engine) as conn:
        b_head = store.lot_entries(conn, b)[-1].idx
    with ledger.engine.begin() as conn:  # the input lot's entry that the transformation names moves away
        sql(conn, "UPDATE log_entry SET lot_id = :x WHERE idx = :i", x=b[:15] + "ELSEWHERE", i=b_head)
    report = ledger.verify_lot(out)
    assert report.verdict == "tampered" and report.failure is not None
    assert (report.failure.seq, report.failure.index, report.failure.check) == (2, res["index"], "chain")
    assert f"input lot {b} has no earlier entry with hash" in report.failure.message
