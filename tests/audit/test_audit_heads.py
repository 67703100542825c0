"""The full-log audit recomputes the heads map at every ``heads`` entry (``heads_map`` check), on SQLite and
PostgreSQL, in one process and on a process pool.

The log is the exporter scenario written as the ledger runs (organizations, keys and products are log
entries), with heads entries appended as the anchor worker does between further events and an unpack.
A forged heads entry is signed by the log key (so the signature checks pass) but commits a wrong map.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ledger.audit.auditor import AuditReport, audit
from ledger.core import heads, statements
from ledger.service import Ledger
from ledger.store import heads_map, shipments, v2log
from ledger.store import log as store
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry
from tests.exports.scenario import Scene, _ev, build


def append_correct(ledger: Ledger) -> int:
    """A heads entry as the worker appends it (from scratch, no cache); its index."""
    with write_tx(ledger.engine) as conn:
        return heads_map.append_heads(conn, ledger.keyring.log_signer(conn), ledger.clock()).size - 1


def append_body(ledger: Ledger, body: dict[str, Any]) -> int:
    """A heads entry with the given body, signed by the log key under the log-head lock; its index."""
    with write_tx(ledger.engine) as conn:
        head = store.lock_head(conn)
        v2log.append(
            conn, kind="heads", ident="log", body=body, signer=ledger.keyring.log_signer(conn), now=ledger.clock()
        )
    return head.size


def more_events(ledger: Ledger, scene: Scene, day: int) -> None:
    event = _ev("storing", f"2026-07-{day:02d}T10:00:00+07:00", scene.frozen, 500)
    ledger.record("cty-dong-lanh", [{"lot": scene.frozen, "event": event}])


@pytest.fixture
def scene(v2_ledger: Ledger) -> tuple[Ledger, Scene, list[int]]:
    """The scenario with three correct heads entries (one right after an unpack)."""
    scene = build(v2_ledger)
    heads_at = [append_correct(v2_ledger)]
    more_events(v2_ledger, scene, 11)
    heads_at.append(append_correct(v2_ledger))
    shipments.unpack(v2_ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-12T09:00:00+07:00")
    heads_at.append(append_correct(v2_ledger))
    more_events(v2_ledger, scene, 13)
    return v2_ledger, scene, heads_at


def heads_findings(report: AuditReport) -> list[tuple[str, int | None, str | None]]:
    return [(f.check, f.index, f.lot) for f in report.findings]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_correct_log_with_heads_entries_passes(scene: tuple[Ledger, Scene, list[int]], processes: int) -> None:
    ledger, _, heads_at = scene
    report = audit(ledger.engine, chunk=4, processes=processes)
    assert report.ok, heads_findings(report)
    assert report.entries == ledger.head().size and len(heads_at) == 3


def lying_bodies(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """Heads bodies for the next index that lie, each in one way."""
    with read_tx(ledger.engine) as conn:
        size = store.read_head(conn).size
        true, m = heads_map.heads_body(conn, size)
    lot = next(lf["key"] for lf in m.leaves if lf["key"].startswith("lot:"))
    short = heads.HeadsMap([lf for lf in m.leaves if lf["key"] != lot])  # a subject left out
    stale = [{**lf, "seq": lf["seq"] - 1} if lf["key"] == lot and "seq" in lf else lf for lf in m.leaves]
    return {
        "wrong-root": {**true, "map_root": "00" * 32},
        "subject-left-out": {**true, "map_root": short.root.hex(), "map_size": short.size},
        "stale-head": {**true, "map_root": heads.HeadsMap(stale).root.hex()},
        "wrong-prev": {**true, "prev_heads": 0},
    }


@pytest.mark.parametrize("lie", ["wrong-root", "subject-left-out", "stale-head", "wrong-prev"])
def test_a_lying_heads_entry_is_reported_at_its_index(scene: tuple[Ledger, Scene, list[int]], lie: str) -> None:
    ledger, scene_, heads_at = scene
    forged = append_body(ledger, lying_bodies(ledger)[lie])
    more_events(ledger, scene_, 14)
    after = append_correct(ledger)  # a correct heads entry after the forged one is not reported
    single = audit(ledger.engine, chunk=4)
    pooled = audit(ledger.engine, chunk=4, processes=2)
    assert heads_findings(single) == [("heads_map", forged, statements.HEADS_SUBJECT)]
    assert heads_findings(pooled) == heads_findings(single)
    assert single.findings[0].message == pooled.findings[0].message
    assert f"heads entry at index {forged} does not commit the log's heads map" in single.findings[0].message
    assert forged > heads_at[-1] and after > forged


def test_the_message_says_what_differs(scene: tuple[Ledger, Scene, list[int]]) -> None:
    ledger, _, _ = scene
    body = lying_bodies(ledger)["subject-left-out"]
    forged = append_body(ledger, body)
    [finding] = audit(ledger.engine).findings
    assert finding.index == forged
    assert f"map_size: expected {body['map_size'] + 1}, got {body['map_size']}" in finding.message


def test_a_broken_v2_chain_is_found_alike_by_the_pool(scene: tuple[Ledger, Scene, list[int]]) -> None:
    """The heads entries' subject chain crosses chunks: its links are checked in the pool's merge too."""
    ledger, _, heads_at = scene
    entry = LogEntry.__table__  # type: ignore[attr-defined]
    with write_tx(ledger.engine) as conn:
        conn.execute(update(entry).where(entry.c.idx == heads_at[1]).values(prev="ab" * 32))
    single = audit(ledger.engine, chunk=4)
    pooled = audit(ledger.engine, chunk=4, processes=2)
    assert ("chain", heads_at[1], statements.HEADS_SUBJECT) in heads_findings(single)
    assert sorted(heads_findings(pooled), key=repr) == sorted(heads_findings(single), key=repr)
