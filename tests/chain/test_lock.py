"""One active anchor worker per database: flock on SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.client import ChainClient
from ledger.chain.lock import PG_LOCK_KEY, WorkerLock
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.store import migrate
from ledger.store.db import make_engine
from tests.chain.support import Farm, open_ledger

pytestmark = pytest.mark.chain


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'l.db'}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def test_second_lock_waits_until_the_first_is_released(engine: Engine, tmp_path: Path) -> None:
    first, second = WorkerLock(engine, tmp_path), WorkerLock(engine, tmp_path)
    assert first.acquire() and first.is_held()
    assert not second.acquire() and not second.is_held()
    first.release()
    assert not first.is_held()
    assert second.acquire()
    second.release()


@pytest.mark.postgres
def test_pg_lock_is_lost_with_its_session(pg_url: str, tmp_path: Path) -> None:
    eng = make_engine(pg_url)
    try:
        lock, other = WorkerLock(eng, tmp_path), WorkerLock(eng, tmp_path)
        assert lock.acquire()
        with eng.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = :o"),
                {"o": PG_LOCK_KEY & 0xFFFFFFFF},
            )
            conn.commit()
        assert not lock.is_held()  # the worker notices and goes back to standby
        assert other.acquire()
        other.release()
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_worker_on_postgres(pg_url: str, tmp_path: Path, tester_chain: ChainClient) -> None:
    """eth-tester's chain id (131277322940537) needs the BIGINT column."""
    farm = Farm(open_ledger(tmp_path, pg_url)).setup()
    try:
        farm.add(farm.new_lot(), 2)
        worker = AnchorWorker(farm.ledger.engine, tester_chain, WorkerConfig())
        assert worker.tick() == "anchored"
        [row] = worker.rows(("confirmed",))
        assert row["chain_id"] == tester_chain.chain_id > 2**31 and row["tree_size"] == 3
    finally:
        farm.ledger.engine.dispose()
