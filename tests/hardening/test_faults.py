"""Faults: the database connection drops mid-batch, the server is SIGKILLed during ingest, the disk fills up.

(a) The connection drops in the middle of a batch: on PostgreSQL the server's own backend is
    terminated (``pg_terminate_backend``) after the batch's log entries were inserted, right
    before its tree nodes are; on SQLite the driver fails with a disk I/O error there. The client
    gets 503 ``unavailable``, nothing of the batch is stored (entries, tree nodes, head) and the retry succeeds.
(b) ``ocop-ledger serve`` is SIGKILLed while client threads post events and batches, after N
    acknowledgements; after a restart every acknowledged event is in the log exactly once and
    every lot verifies (SQLite and PostgreSQL).
(c) The chain RPC down for a while is ``tests/chain/test_faults.py::
    test_chain_outage_ingest_goes_on_and_the_worker_catches_up`` (ingest goes on, verdicts
    ``pending``, the anchor worker catches up); ``scripts/reliability.py`` counts it here.
(d) Disk full on SQLite (``PRAGMA max_page_count`` just above the file's size): the write gets
    507 ``storage_full``, nothing is stored, reads still work, and the write succeeds once there
    is room again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, func, select

from ledger.audit.auditor import audit
from ledger.service import Ledger
from ledger.store.db import is_sqlite, read_tx
from ledger.store.models import LogEntry, LogHead, TreeNode
from tests.api.conftest import LOT_A, LOT_A_PATH, World
from tests.api.conftest import event as ev
from tests.hardening import loadgen, server

pytestmark = pytest.mark.hardening
ONLY_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def state(led: Ledger) -> tuple[int, int, tuple[int, bytes] | None]:
    """(log entries, tree nodes, head (size, root)): what a failed write must leave unchanged."""
    with read_tx(led.engine) as conn:
        n = [
            int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())  # type: ignore[attr-defined]
            for t in (LogEntry, TreeNode)
        ]
        head = conn.execute(select(LogHead.__table__.c.size, LogHead.__table__.c.root)).first()  # type: ignore[attr-defined]
    return n[0], n[1], None if head is None else (int(head.size), bytes(head.root))


def batch(n: int, note: str = "") -> dict[str, Any]:
    return {"events": [{"lot": LOT_A, "event": ev("storing", ilmd={"n": k, "note": note})} for k in range(n)]}


# --- (a) the database connection drops in the middle of a batch --------------------------------


def _drop_before_tree_nodes(led: Ledger) -> Any:
    """A hook that breaks the connection in the middle of the batch's transaction: on SQLite once the
    log entries are in, before the tree nodes go in; on PostgreSQL, where entries, nodes and lot heads
    are one statement, as that statement goes (the log head is locked and updated already)."""
    seen = [0]
    pg = not is_sqlite(led.engine)

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO TREE_NODE" not in statement.upper():
            return
        seen[0] += 1
        if seen[0] != 1:
            return
        if pg:  # the real thing: the server side kills this backend
            pid = conn.connection.dbapi_connection.info.backend_pid
            url = led.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        else:
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(led.engine, "before_cursor_execute", hook)
    return hook


def test_connection_drop_mid_batch_stores_nothing_and_tells_the_client(world: World) -> None:
    led = world.ledger
    world.client.post("/api/v1/events:batch", json=batch(3), headers=world.auth("a"))  # the tree has nodes
    before = state(led)
    hook = _drop_before_tree_nodes(led)
    try:
        r = world.client.post("/api/v1/events:batch", json=batch(40), headers=world.auth("a"))
    finally:
        event.remove(led.engine, "before_cursor_execute", hook)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"]["code"] == "unavailable" and "nothing" in body["error"]["message"]
    assert "Traceback" not in r.text and "INSERT" not in r.text
    assert state(led) == before
    retry = world.client.post("/api/v1/events:batch", json=batch(40), headers=world.auth("a"))
    assert retry.status_code == 201, retry.text
    assert state(led)[0] == before[0] + 40
    assert led.verify_lot(LOT_A).verdict != "tampered"


# --- (b) the server is SIGKILLed during ingest -------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not server.pg_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is unreachable at {server.PG_URL}", pytrace=False)
        pytest.skip(f"PostgreSQL is unreachable at {server.PG_URL}")
    with server.pg_temp_database() as url:
        yield url


def _post_until_dead(base: str, token: str, lots: list[str], acks: list[loadgen.Ack], w: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as c:
        for n in range(10_000):
            try:
                if n % 4 == 3:
                    items = [
                        {"lot": lots[(n + k) % len(lots)], "event": ev("storing", ilmd={"w": w, "n": n})}
                        for k in range(8)
                    ]
                    r = c.post("/api/v1/events:batch", json={"events": items}, headers=auth)
                    got = r.json()["recorded"] if r.status_code == 201 else []
                else:
                    r = c.post(
                        f"/api/v1/lots/{lots[n % len(lots)]}/events",
                        json=ev("storing", ilmd={"w": w, "n": n}),
                        headers=auth,
                    )
                    got = [r.json()] if r.status_code == 201 else []
            except (httpx.HTTPError, ValueError):
                return  # the server is gone
            assert r.status_code < 500, r.text
            acks.extend(loadgen.Ack(g["lot"], int(g["seq"]), int(g["index"]), g["leaf_hash"]) for g in got)


@pytest.mark.slow
def test_sigkill_during_ingest_loses_no_acknowledged_event(server_db: str, tmp_path: Path) -> None:
    led = Ledger.open(server.settings(tmp_path, server_db))
    try:
        seeded = server.seed(led, orgs=2, lots_per_org=2)
        srv = server.Server(tmp_path, server_db, tmp_path).start()
        acks: list[loadgen.Ack] = []
        threads = []
        try:
            for w in range(6):
                org, _ = seeded.own_lots[w % len(seeded.own_lots)]
                lots = [lot for o, lot in seeded.own_lots if o == org] + [seeded.shared_lots[org]]
                t = threading.Thread(target=_post_until_dead, args=(srv.url, seeded.tokens[org], lots, acks, w))
                t.start()
                threads.append(t)
            loadgen_wait(lambda: len(acks) >= 150, timeout=60)
            srv.kill()
        finally:
            srv.stop()
            for t in threads:
                t.join(30)
        killed_at = len(acks)
        assert killed_at >= 150
        with server.Server(tmp_path, server_db, tmp_path) as again:  # restart on the same database
            org = next(iter(seeded.tokens))
            r = httpx.post(
                f"{again.url}/api/v1/lots/{seeded.shared_lots[org]}/events",
                json=ev("storing"),
                headers={"Authorization": f"Bearer {seeded.tokens[org]}"},
            )
            assert r.status_code == 201, r.text
        assert loadgen.check_nothing_lost(led, acks) == []
        report = audit(led.engine)
        assert report.ok, report.findings[:3]
    finally:
        led.engine.dispose()


def loadgen_wait(cond: Any, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- (d) disk full on SQLite ---------------------------------------------------------------------


@ONLY_SQLITE
def test_sqlite_disk_full_gives_a_clear_error_and_stores_nothing(world: World) -> None:
    led = world.ledger
    with read_tx(led.engine) as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    def limit(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    event.listen(led.engine, "connect", limit)
    led.engine.dispose()  # every connection from now on has the limit
    before = state(led)
    try:
        r = world.client.post("/api/v1/events:batch", json=batch(200, "x" * 500), headers=world.auth("a"))
        assert r.status_code == 507, r.text
        err = r.json()["error"]
        assert err["code"] == "storage_full" and "storage is full" in err["message"]
        assert state(led) == before
        assert world.client.get(f"/api/v1/lots/{LOT_A_PATH}").status_code == 200  # reads still work
        assert world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").status_code == 200
        assert world.client.get("/api/v1/log/checkpoint").status_code == 200
    finally:
        event.remove(led.engine, "connect", limit)
        led.engine.dispose()
    retry = world.client.post("/api/v1/events:batch", json=batch(200, "x" * 500), headers=world.auth("a"))
    assert retry.status_code == 201, retry.text
    assert state(led)[0] == before[0] + 200
