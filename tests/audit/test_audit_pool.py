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


@pytest.mark.parametrize(
    ("size", "chunk", "processes"), [(20_000, 10_000, 2), (1_000_000, 10_000, 4), (999, 4, 2), (7, 10, 3)]
)
def test_chunks_cover_the_log_on_even_bounds_and_shrink(size: int, chunk: int, processes: int) -> None:
    from ledger.audit.pool import _MIN_CHUNK, _ranges

    ranges = list(_ranges(size, chunk, processes))
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # contiguous, no overlap
    assert all(start % 2 == 0 for start, _ in ranges)  # level-1 pairs never straddle two chunks
    sizes = [end - start for start, end in ranges]
    assert all(0 < n <= chunk for n in sizes)
    assert sizes == sorted(sizes, reverse=True)  # the last ones are the smallest
    assert all(n >= min(chunk, _MIN_CHUNK) - 1 for n in sizes[:-1])
