"""Many writers at once: log indexes stay gapless and unique, every chain stays intact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from ledger.core import merkle
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.models import LogEntry
from tests.helpers import add_lot, add_org, add_product, event

WRITERS = 8
EVENTS_PER_WRITER = 500
BATCH = 50
ORGS = ("htx-phu-hoi", "cty-xuat-khau")  # a cooperative and an exporter that stores its lots


def _writer(ledger: Ledger, n: int, gtins: list[str], shared: list[str], start: threading.Barrier) -> list[list[int]]:
    """Create this writer's own lot, then append batches mixing it with the shared lots."""
    org = ORGS[n % 2]
    start.wait()
    own = add_lot(ledger, org, gtins[n % 2], f"W{n}-2026")
    batches = []
    for b in range(EVENTS_PER_WRITER // BATCH):
        items = [
            {
                "lot": own if i % 2 else shared[(n + b + i) % 2],
                "event": event("storing", **{"ocop:note": f"{n}/{b}/{i}"}),
            }
            for i in range(BATCH)
        ]
        batches.append([r["index"] for r in ledger.record(org, items)])
    return batches


@pytest.mark.slow
def test_concurrent_writers_keep_the_log_gapless(ledger: Ledger) -> None:
    add_org(ledger, ORGS[0])
    add_org(ledger, ORGS[1], kind="exporter")
    gtins = [add_product(ledger, org, 100 + k) for k, org in enumerate(ORGS)]
    shared = [add_lot(ledger, ORGS[0], gtins[0], f"SHARED-{k}") for k in range(2)]
    start = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(_writer, ledger, n, gtins, shared, start) for n in range(WRITERS)]
        results = [f.result(timeout=300) for f in futures]

    n_entries = len(shared) + WRITERS + WRITERS * EVENTS_PER_WRITER
    for batches in results:  # a batch takes consecutive indexes
        for idx in batches:
            assert idx == list(range(idx[0], idx[0] + BATCH))
    table: Any = LogEntry.__table__
    with read_tx(ledger.engine) as conn:
        rows = conn.execute(select(table.c.idx, table.c.leaf_hash).order_by(table.c.idx)).all()
        assert [r.idx for r in rows] == list(range(n_entries))
        head = store.read_head(conn)
        assert head.size == n_entries == store.entry_count(conn)
        leaves = [bytes(r.leaf_hash) for r in rows]
        assert head.root == store.root_at(conn, n_entries) == merkle.root(leaves)
        for size in (1, 2, 1000, 2047, 2048, 2049, n_entries - 1):
            assert store.root_at(conn, size) == merkle.root(leaves[:size]), size
        lots = sorted({r.lot_id for r in conn.execute(select(table.c.lot_id).distinct())})
    assert len(lots) == len(shared) + WRITERS
    for lot in lots:
        report = ledger.verify_lot(lot)
        assert (report.verdict, report.failure) == ("pending", None), lot
        expected = 1 + (EVENTS_PER_WRITER // 2 if lot not in shared else WRITERS * EVENTS_PER_WRITER // 4)
        assert [e.seq for e in report.entries] == list(range(expected)), lot
