"""Load with nothing lost (bounded for CI): a real server on PostgreSQL, 20 writers and 5 readers for 10 s.

Every acknowledged event is in the log exactly once (index and leaf hash), the log is gapless, the
head size equals the entry count, every lot verifies, and no request got a 5xx. The full run
(50 writers, 20 readers, 60 s) is ``scripts/load_test.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.service import Ledger
from tests.hardening import loadgen, server

pytestmark = [pytest.mark.hardening, pytest.mark.postgres, pytest.mark.slow]
SECONDS = float(os.environ.get("LEDGER_LOAD_SECONDS", "10"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not server.pg_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is unreachable at {server.PG_URL}", pytrace=False)
        pytest.skip(f"PostgreSQL is unreachable at {server.PG_URL}")
    with server.pg_temp_database() as url:
        yield url


def test_load_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    led = Ledger.open(server.settings(tmp_path, pg_url))
    try:
        seeded = server.seed(led, orgs=5, lots_per_org=4)
        with server.Server(tmp_path, pg_url, tmp_path) as srv:
            res = asyncio.run(loadgen.run_load(srv.url, seeded, seconds=SECONDS, writers=20, readers=5))
        print("\n" + res.summary())
        assert res.server_errors() == 0, res.errors()
        assert not res.transport_errors, res.errors()
        assert len(res.acks) > 50 and res.reads > 20
        assert loadgen.check_nothing_lost(led, res.acks) == []
        assert led.head().size >= len(res.acks)
    finally:
        led.engine.dispose()


def test_sigkill_of_one_api_process_loses_nothing_and_resends_store_once(pg_url: str, tmp_path: Path) -> None:
    """Two API processes on one PostgreSQL; one is SIGKILLed in the middle of the load. Writers resend
    what had no answer to the other, with the same Idempotency-Key (``tests/hardening/killload.py``)."""
    from tests.hardening import killload

    led = Ledger.open(server.settings(tmp_path, pg_url))
    try:
        seeded = server.seed(led, orgs=4, lots_per_org=3)
        with server.Server(tmp_path, pg_url, tmp_path) as a, server.Server(tmp_path, pg_url, tmp_path) as b:
            res = asyncio.run(killload.run([a.url, b.url], seeded, seconds=min(SECONDS, 6), writers=16, kill=a.kill))
            assert a.proc is not None and a.proc.returncode == -9
        print(f"\n{len(res.acks)} keyed requests acknowledged, {res.resent} resent, {res.replayed} replayed")
        assert res.unanswered == 0 and res.mismatched == []
        assert set(res.statuses) <= {201}, res.statuses
        assert len(res.acks) > 50 and res.resent > 0
        assert loadgen.check_nothing_lost(led, res.all_acks(), verify_lots=False) == []
        assert killload.notes_stored_twice(led) == []
    finally:
        led.engine.dispose()
