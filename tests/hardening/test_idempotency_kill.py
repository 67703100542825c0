"""The server dies after committing a write and before answering; the retry with the same
``Idempotency-Key`` gets the first answer and stores nothing twice (issue 9, reproduction 8).

``LEDGER_TEST_FAULT=exit-after-idempotent-commit`` makes ``ocop-ledger serve`` exit right after
the transaction that holds the write and its idempotency record commits, before the response is
sent: the client sees the connection drop. After a restart (without the fault), the resend is
answered from the record; the log holds the event once and audits clean (gapless, on both databases).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ledger.audit.auditor import audit
from ledger.service import Ledger
from ledger.store.db import read_tx
from ledger.store.models import IdempotencyRecord, LogEntry
from tests.api.conftest import event as ev
from tests.hardening import server
from tests.hardening.test_faults import server_db

pytestmark = pytest.mark.hardening
__all__ = ["server_db"]


def entries_of(led: Ledger, lot: str) -> list[tuple[int, int]]:
    t = LogEntry.__table__  # type: ignore[attr-defined]
    with read_tx(led.engine) as conn:
        return [(int(r.idx), int(r.seq)) for r in conn.execute(select(t.c.idx, t.c.seq).where(t.c.lot_id == lot))]


def test_killed_after_commit_before_answer_the_retry_gets_the_first_answer(server_db: str, tmp_path: Path) -> None:
    led = Ledger.open(server.settings(tmp_path, server_db))
    try:
        seeded = server.seed(led, orgs=1, lots_per_org=0)
        org, lot = next(iter(seeded.shared_lots.items()))
        headers = {"Authorization": f"Bearer {seeded.tokens[org]}", "Idempotency-Key": "harvest-2026-07-02"}
        url = f"/api/v1/lots/{lot}/events"
        body = ev("storing", ilmd={"note": "sent once, answered never"})
        before = entries_of(led, lot)
        dying = server.Server(tmp_path, server_db, tmp_path, LEDGER_TEST_FAULT="exit-after-idempotent-commit")
        with dying:
            with pytest.raises(httpx.HTTPError):
                httpx.post(dying.url + url, json=body, headers=headers, timeout=30)
            assert dying.proc is not None and dying.proc.wait(15) == 86  # died at the fault, not elsewhere
        stored = entries_of(led, lot)
        assert len(stored) == len(before) + 1  # the write committed although nobody was told
        with server.Server(tmp_path, server_db, tmp_path) as again:
            r = httpx.post(again.url + url, json=body, headers=headers, timeout=30)
            assert r.status_code == 201, r.text
            assert r.headers["idempotent-replayed"] == "true"
            assert r.json()["index"] == stored[-1][0] and r.json()["seq"] == stored[-1][1]
            other = httpx.post(again.url + url, json=ev("inspecting"), headers=headers, timeout=30)
            assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
        assert entries_of(led, lot) == stored  # nothing stored twice
        with read_tx(led.engine) as conn:
            assert len(conn.execute(select(IdempotencyRecord.__table__)).all()) == 1  # type: ignore[attr-defined]
        report = audit(led.engine)
        assert report.ok, report.findings[:3]
    finally:
        led.engine.dispose()
