"""Roots and proofs served from stored subtree hashes equal the list-built ones, in O(log n) reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select

from ledger.core import merkle
from ledger.errors import NotFound
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.models import LogEntry, Lot
from tests.helpers import add_lot, add_org, add_product
from tests.helpers import event as make_event


def fill(ledger: Ledger, n: int) -> list[bytes]:
    """A log of exactly ``n`` entries (one lot's commissioning + events); its leaf hashes."""
    add_org(ledger, "htx-phu-hoi")
    g = add_product(ledger, "htx-phu-hoi", 4567)
    lot = add_lot(ledger, "htx-phu-hoi", g, "PH-1")
    for start in range(1, n, 1000):
        batch = [{"lot": lot, "event": make_event("storing")} for _ in range(start, min(n, start + 1000))]
        ledger.record("htx-phu-hoi", batch)
    table = LogEntry.__table__
    with read_tx(ledger.engine) as conn:
        leaves = [bytes(h) for h in conn.execute(select(table.c.leaf_hash).order_by(table.c.idx)).scalars()]
    assert len(leaves) == n == ledger.head().size
    return leaves


def _sample(size: int) -> set[int]:
    return {i for i in (0, 1, size // 2, (size * 7) // 11, size - 2, size - 1) if 0 <= i < size}


@pytest.mark.parametrize("n", [1, 2, 7, 64, 100, 257])
def test_store_proofs_equal_list_proofs(ledger: Ledger, n: int) -> None:
    leaves = fill(ledger, n)
    with read_tx(ledger.engine) as conn:
        head = store.read_head(conn)
        assert head.root == merkle.root(leaves)
        for size in range(n + 1):
            root = store.root_at(conn, size)
            assert root == merkle.root(leaves[:size]), f"root at {size}"
            if size == 0:
                continue
            indexes = range(size) if n <= 7 else _sample(size)
            for i in indexes:
                proof = store.inclusion_proof(conn, i, size)
                assert proof == merkle.inclusion_proof(leaves, i, size), f"inclusion of {i} at {size}"
                merkle.verify_inclusion(leaves[i], i, size, proof, root)
            firsts = range(1, size + 1) if n <= 7 else _sample(size + 1) - {0}
            for size1 in firsts:
                proof = store.consistency_proof(conn, size1, size)
                assert proof == merkle.consistency_proof(leaves, size1, size), f"consistency {size1} -> {size}"
                merkle.verify_consistency(size1, size, proof, merkle.root(leaves[:size1]), root)


def test_lots_and_frontier_in_one_read_equal_the_separate_reads(ledger: Ledger) -> None:
    """PostgreSQL's one-round-trip read under the log-head lock: the same frontier as the stored
    nodes give (so the same roots as the list of leaves) and the same lot rows, at every size."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL statement (SQLite reads in process, one writer at a time)")
    leaves = fill(ledger, 70)
    with read_tx(ledger.engine) as conn:
        lot_rows = {
            r.lot_id: tuple(r)
            for r in conn.execute(
                select(
                    Lot.__table__.c.lot_id, Lot.__table__.c.org_id, Lot.__table__.c.last_seq, Lot.__table__.c.head_hash
                )
            )
        }
    for size in range(71):  # the head row set to each size in turn, then rolled back
        with ledger.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("UPDATE log_head SET size = %(s)s WHERE id = 1", {"s": size})
            head = store.lock_head(conn)
            rows, frontier = store.reload_locked(conn, [*lot_rows, "no.such-lot"], head)
            assert frontier.nodes == store.load_frontier(conn, size).nodes, f"frontier at {size}"
            assert frontier.size == size and frontier.root() == merkle.root(leaves[:size]), f"root at {size}"
            assert {r.lot_id: (r.lot_id, r.org_id, r.last_seq, r.head_hash) for r in rows} == lot_rows
            conn.rollback()


def test_lock_and_reload_in_one_round_trip_read_the_frontier_of_the_locked_size(ledger: Ledger) -> None:
    """``lock_head_and_reload`` works out the frontier's nodes from the head row's size in SQL: at
    every size 0..70 they are the nodes ``proofs.root_coords`` names (the same frontier as the stored
    nodes give, so the same root as the list of leaves), with the same lot rows."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL statement (SQLite reads in process, one writer at a time)")
    leaves = fill(ledger, 70)
    t: Any = Lot.__table__
    with read_tx(ledger.engine) as conn:
        lot_rows = {tuple(r) for r in conn.execute(select(t.c.lot_id, t.c.org_id, t.c.last_seq, t.c.head_hash))}
    for size in range(71):
        with ledger.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("UPDATE log_head SET size = %(s)s WHERE id = 1", {"s": size})
            head, rows, frontier = store.lock_head_and_reload(conn, [*(r[0] for r in lot_rows), "no.such-lot"])
            assert head.size == size and frontier.size == size
            assert frontier.nodes == store.load_frontier(conn, size).nodes, f"frontier at {size}"
            assert frontier.root() == merkle.root(leaves[:size]), f"root at {size}"
            assert {tuple(r)[1:5] for r in rows} == lot_rows
            conn.rollback()
    assert ledger.head().size == 70


def test_sizes_beyond_the_head_are_not_found(ledger: Ledger) -> None:
    fill(ledger, 5)
    with read_tx(ledger.engine) as conn:
        with pytest.raises(NotFound, match="tree size out of range: expected 0..5, got 6"):
            store.root_at(conn, 6)
        with pytest.raises(NotFound, match="expected 0..5, got 6"):
            store.inclusion_proof(conn, 0, 6)
        with pytest.raises(NotFound, match="expected 0..5, got 9"):
            store.consistency_proof(conn, 1, 9)
        assert store.root_at(conn, 0) == merkle.EMPTY_ROOT


class ReadCounter:
    """Counts SQL statements on an engine and the node rows the store reads."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements = 0
        self.rows = 0
        event.listen(engine, "before_cursor_execute", self._on_execute)
        self.engine = engine
        real = store.read_nodes

        def counting(conn: Connection, coords: Any) -> dict[Any, bytes]:
            out = real(conn, coords)
            self.rows += len(out)
            return out

        monkeypatch.setattr(store, "read_nodes", counting)

    def _on_execute(self, *_: Any) -> None:
        self.statements += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)

    @contextmanager
    def measure(self) -> Iterator[dict[str, int]]:
        s0, r0 = self.statements, self.rows
        out: dict[str, int] = {}
        yield out
        out.update(statements=self.statements - s0, rows=self.rows - r0)


def test_proof_reads_do_not_grow_with_the_log(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    leaves = fill(ledger, 1000)
    counter = ReadCounter(ledger.engine, monkeypatch)
    costs: dict[tuple[str, int], dict[str, int]] = {}
    try:
        with read_tx(ledger.engine) as conn:
            for size in (10, 1000):
                with counter.measure() as costs["inclusion", size]:
                    proof = store.inclusion_proof(conn, size // 3, size)
                merkle.verify_inclusion(leaves[size // 3], size // 3, size, proof, merkle.root(leaves[:size]))
                with counter.measure() as costs["consistency", size]:
                    store.consistency_proof(conn, size // 3, size)
                with counter.measure() as costs["root", size]:
                    store.root_at(conn, size)
    finally:
        counter.close()
    for kind in ("inclusion", "consistency", "root"):
        small, big = costs[kind, 10], costs[kind, 1000]
        # the same few statements (head, leaves, inner nodes) whatever the size ...
        assert big["statements"] == small["statements"] <= 3, (kind, small, big)
        # ... reading a number of nodes bounded by the proof length, ~2 log2(n), not n
        assert big["rows"] <= 2 * (1000).bit_length(), (kind, big)
        assert 0 < small["rows"] <= big["rows"]
