"""The full-log audit finds each kind of tampering, at its exact log index, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, update

from ledger.audit.auditor import AuditReport, audit
from ledger.core import canonical
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.db import write_tx
from ledger.store.models import Anchor, LogEntry, Lot, TreeNode
from tests.exports.scenario import build
from tests.helpers import seed

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_node = TreeNode.__table__  # type: ignore[attr-defined]
_anchor = Anchor.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
CONTRACT = "0x" + "ab" * 20


class FakeChain:
    """The contract as the auditor sees it: the root anchored at each size."""

    def __init__(self, roots: dict[int, bytes], latest: int | None = None) -> None:
        self.roots = roots
        self.latest = latest if latest is not None else max(roots, default=0)

    def root_at(self, size: int) -> bytes:
        return self.roots.get(size, b"\x00" * 32)

    def latest_tree_size(self) -> int:
        return self.latest


@pytest.fixture
def log(ledger: Ledger) -> Ledger:
    """27 entries: the exporter scenario (12) and three interleaved lots (15)."""
    build(ledger)
    seed(ledger)
    assert ledger.head().size == 27
    return ledger


def anchor(conn: Connection, size: int) -> bytes:
    root = store.root_at(conn, size)
    now = datetime(2026, 8, 1, tzinfo=UTC)
    conn.execute(
        insert(_anchor).values(
            chain_id=31337,
            contract=CONTRACT,
            tree_size=size,
            root=root,
            status="confirmed",
            tx_hash=f"0x{size:064x}",
            block_number=size,
            created_at=now,
            updated_at=now,
        )
    )
    return root


def tamper(ledger: Ledger, fn: Callable[[Connection], Any]) -> None:
    with write_tx(ledger.engine) as conn:
        fn(conn)


def found(report: AuditReport) -> list[tuple[str, int | None]]:
    return [(f.check, f.index) for f in report.findings]


def test_clean_log(log: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    report = audit(log.engine, chunk=4, progress=lambda n, total: seen.append((n, total)))
    assert report.ok, found(report)
    assert (report.entries, report.lots, report.tree_size) == (27, 6, 27)
    assert seen[0] == (4, 27) and seen[-1] == (27, 27)
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is True and data["findings"] == [] and data["root"] == log.head().root.hex()


def _edit_event(conn: Connection, idx: int) -> None:
    row = conn.execute(select(_entry.c.event).where(_entry.c.idx == idx)).one()
    ev = json.loads(row.event)
    ev["ocop:note"] = "sửa lại sau khi ký"
    conn.execute(update(_entry).where(_entry.c.idx == idx).values(event=canonical.canonicalize(ev).decode()))


def _swap(conn: Connection, a: int, b: int) -> None:
    for src, dst in ((a, -1), (b, a), (-1, b)):
        conn.execute(update(_entry).where(_entry.c.idx == src).values(idx=dst))


CASES: list[tuple[str, Callable[[Connection], Any], list[tuple[str, int | None]]]] = [
    ("edited-event", lambda c: _edit_event(c, 14), [("signature", 14), ("leaf", 14)]),
    (
        "signature",
        lambda c: c.execute(
            update(_entry)
            .where(_entry.c.idx == 7)
            .values(sig=c.execute(select(_entry.c.sig).where(_entry.c.idx == 8)).scalar_one())
        ),
        [("signature", 7), ("leaf", 7)],
    ),
    (
        "leaf-hash",
        lambda c: c.execute(update(_entry).where(_entry.c.idx == 3).values(leaf_hash=b"\x00" * 32)),
        [("leaf", 3)],
    ),
    (
        "subtree-hash",
        lambda c: c.execute(update(_node).where(_node.c.level == 2, _node.c.idx == 1).values(hash=b"\x01" * 32)),
        [("subtree", 4)],
    ),
    ("deleted-entry", lambda c: c.execute(delete(_entry).where(_entry.c.idx == 20)), [("entry", 20)]),
    ("swapped-entries", lambda c: _swap(c, 4, 10), [("order", 4), ("order", 10)]),
    ("swapped-neighbours", lambda c: _swap(c, 16, 17), [("order", 16), ("order", 17)]),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_finds_tampering_at_its_index(
    log: Ledger, name: str, change: Callable[[Connection], Any], expected: list[tuple[str, int | None]]
) -> None:
    tamper(log, change)
    report = audit(log.engine, chunk=6)
    got = found(report)
    for item in expected:
        assert item in got, (name, got)
    first_index = min(i for _, i in expected if i is not None)
    assert min(i for _, i in got if i is not None) == first_index, got
    assert not report.ok
    assert audit(log.engine, chunk=10_000).findings == report.findings  # chunking does not matter


def test_findings_name_the_lot(log: Ledger) -> None:
    tamper(log, lambda c: c.execute(update(_entry).where(_entry.c.idx == 3).values(leaf_hash=b"\x00" * 32)))
    f = audit(log.engine).findings[0]
    assert f.lot == "08930000010018.CM-RAW-1" and "stored leaf hash differs: expected" in f.message


def test_edited_lot_row(log: Ledger) -> None:
    tamper(log, lambda c: c.execute(update(_lot).where(_lot.c.code == "CM-RAW-2").values(plot_area_ha=3.9)))
    (f,) = audit(log.engine).findings
    assert (f.check, f.lot) == ("lot_head", "08930000010018.CM-RAW-2") and "plot_area_ha" in f.message


def test_anchors_checked_against_chain(log: Ledger) -> None:
    with write_tx(log.engine) as conn:
        roots = {8: anchor(conn, 8), 20: anchor(conn, 20), 27: anchor(conn, 27)}
    report = audit(log.engine, chain=FakeChain(roots))
    assert report.ok and report.anchors == 3, found(report)


def test_edited_anchor_root(log: Ledger) -> None:
    with write_tx(log.engine) as conn:
        roots = {8: anchor(conn, 8), 20: anchor(conn, 20)}
        conn.execute(update(_anchor).where(_anchor.c.tree_size == 20).values(root=b"\x02" * 32))
    report = audit(log.engine, chain=FakeChain(roots))
    checks = {f.check: f.message for f in report.findings}
    assert set(checks) == {"anchor_root", "anchor_chain"}
    assert "anchor at tree size 20" in checks["anchor_root"] and "0x" + f"{20:064x}" in checks["anchor_root"]
    assert "the chain holds another root" in checks["anchor_chain"]
    assert [f.check for f in audit(log.engine).findings] == ["anchor_root", "anchor_consistency"]  # without a chain


def test_rewritten_log_breaks_anchor_consistency(log: Ledger) -> None:
    with write_tx(log.engine) as conn:
        roots = {8: anchor(conn, 8), 20: anchor(conn, 20)}
    fake = dict(roots)
    fake[8] = b"\x03" * 32  # the chain saw another history at size 8
    report = audit(log.engine, chain=FakeChain(fake))
    assert {f.check for f in report.findings} == {"anchor_chain", "anchor_consistency"}


def test_chain_ahead_of_log(log: Ledger) -> None:
    with write_tx(log.engine) as conn:
        roots = {8: anchor(conn, 8)}
    report = audit(log.engine, chain=FakeChain(roots, latest=40))
    assert [f.check for f in report.findings] == ["anchor_chain"]
    assert "larger log than stored" in report.findings[0].message
