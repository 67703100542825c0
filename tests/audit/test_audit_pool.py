"""The audit on a process pool finds exactly what the single-process audit finds, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, update

from ledger.audit.auditor import AuditReport, audit
from ledger.service import Ledger
from tests.audit.test_audit import CASES, _entry, _lot, log, tamper

__all__ = ["log"]  # the fixture: 27 entries of six interleaved lots


def findings(report: AuditReport) -> list[tuple[str, int | None, str | None, str]]:
    return sorted(((f.check, f.index, f.lot, f.message) for f in report.findings), key=repr)


def test_clean_log_on_two_processes(log: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    report = audit(log.engine, chunk=4, processes=2, progress=lambda n, total: seen.append((n, total)))
    assert report.ok, findings(report)
    assert (report.entries, report.lots, report.tree_size) == (27, 6, 27)
    assert seen == [(n, 27) for n in (4, 8, 12, 16, 20, 24, 27)]


MORE: list[tuple[str, Callable[[Connection], Any]]] = [
    ("chain-seq", lambda c: c.execute(update(_entry).where(_entry.c.idx == 13).values(seq=7))),
    ("lot-row-head", lambda c: c.execute(update(_lot).where(_lot.c.code == "CM-RAW-2").values(last_seq=9))),
]
# every tampering of the single-process audit's tests, and chain breaks that cross chunk borders,
# in three groups that touch different entries (so each one's findings stay visible)
GROUPS = {
    "entries": ["edited-event", "leaf-hash", "deleted-entry", "lot-row-head"],
    "order": ["signature", "swapped-entries", "subtree-hash"],
    "chain": ["swapped-neighbours", "chain-seq"],
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_same_findings_as_one_process(log: Ledger, group: str) -> None:
    changes = dict([(c[0], c[1]) for c in CASES] + MORE)
    for name in GROUPS[group]:
        tamper(log, changes[name])
    single = audit(log.engine, chunk=4)
    pooled = audit(log.engine, chunk=4, processes=2)
    assert not single.ok and len(single.findings) >= len(GROUPS[group])
    assert findings(pooled) == findings(single)
    assert (pooled.entries, pooled.lots) == (single.entries, single.lots)
