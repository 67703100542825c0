"""Statements sent together (``db.driver_together``) and what an append batch costs in round trips.

The round trips are counted by a proxy in front of PostgreSQL (``tests.pg_proxy``), which counts
each time the client sends after it was answered; SQLite runs in process and has none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.audit.auditor import audit
from ledger.errors import InputError, Unavailable
from ledger.sequencer import Group, Sequencer
from ledger.service import Ledger
from ledger.store import apikeys, db
from ledger.store import log as store
from ledger.store.append import _LotState, prefetch
from ledger.store.db import driver_together, make_engine, read_tx, write_tx
from ledger.store.models import LogEntry, Lot
from tests.helpers import add_lot, add_org, add_product
from tests.helpers import event as make_event
from tests.pg_proxy import RoundTripProxy

_lot: Any = Lot.__table__


def _pg_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips: SQLite runs in process")


@pytest.fixture
def table(engine: Engine) -> Engine:
    with write_tx(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE pair (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return engine


def _pairs(engine: Engine) -> list[tuple[int, str]]:
    with read_tx(engine) as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT k, v FROM pair ORDER BY k")]


def test_statements_together_answer_in_order_and_commit(table: Engine) -> None:
    seen: list[str] = []
    listen = lambda conn, cursor, statement, *rest: seen.append(statement.split()[0])  # noqa: E731
    event.listen(table, "before_cursor_execute", listen)
    try:
        with table.connect() as conn, conn.begin():
            rows = driver_together(
                conn,
                [
                    ("INSERT INTO pair (k, v) VALUES (:k, :v)", {"k": 1, "v": "một"}),
                    ("INSERT INTO pair (k, v) VALUES (:k, :v)", {"k": 2, "v": "hai"}),
                    ("SELECT k, v FROM pair WHERE k >= :low ORDER BY k", {"low": 2}),
                    ("SELECT count(*) AS n FROM pair", {}),
                ],
                commit=True,
            )
    finally:
        event.remove(table, "before_cursor_execute", listen)
    assert rows[0] == [] and rows[1] == []
    assert [(r.k, r.v) for r in rows[2]] == [(2, "hai")]  # the inserts before it are seen
    assert rows[3][0].n == 2
    seen = [s for s in seen if s != "BEGIN"]  # SQLite's, which this engine sends as a statement
    assert seen == ["INSERT", "INSERT", "SELECT", "SELECT"]  # every statement, as driver_sql shows it
    assert _pairs(table) == [(1, "một"), (2, "hai")]


def test_a_failing_statement_stores_nothing_and_raises_sqlalchemys_error(table: Engine) -> None:
    with table.connect() as conn, conn.begin():
        driver_together(conn, [("INSERT INTO pair (k, v) VALUES (1, 'một')", {})], commit=True)
    with pytest.raises(IntegrityError, match="(?i)unique|duplicate"), table.connect() as conn, conn.begin():
        driver_together(
            conn,
            [
                ("INSERT INTO pair (k, v) VALUES (2, 'hai')", {}),
                ("INSERT INTO pair (k, v) VALUES (1, 'lần nữa')", {}),  # the key is taken
                ("INSERT INTO pair (k, v) VALUES (3, 'ba')", {}),
            ],
            commit=True,
        )
    assert _pairs(table) == [(1, "một")]
    with table.connect() as conn, conn.begin():  # the pool's connections still work
        assert driver_together(conn, [("SELECT count(*) AS n FROM pair", {})])[0][0].n == 1


def test_a_commit_listener_that_fails_stops_the_commit(table: Engine) -> None:
    def fail(conn: Any) -> None:
        raise RuntimeError("the disk is full")

    event.listen(table, "commit", fail)
    try:
        with pytest.raises(RuntimeError, match="disk is full"), table.connect() as conn, conn.begin():
            driver_together(conn, [("INSERT INTO pair (k, v) VALUES (1, 'một')", {})], commit=True)
    finally:
        event.remove(table, "commit", fail)
    assert _pairs(table) == []


@pytest.fixture
def proxy(engine: Engine) -> Iterator[tuple[RoundTripProxy, Engine]]:
    """The proxy, and an engine on the same database through it."""
    _pg_only(engine)
    url = engine.url
    with RoundTripProxy(url.host or "127.0.0.1", url.port or 5432) as p:
        through = make_engine(url.set(port=p.port).render_as_string(hide_password=False))
        try:
            yield p, through
        finally:
            through.dispose()


def test_statements_together_are_one_round_trip(table: Engine, proxy: tuple[RoundTripProxy, Engine]) -> None:
    p, through = proxy
    with through.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # connected
        conn.rollback()
        p.reset()
        with conn.begin():
            driver_together(conn, [(f"SELECT {n} AS n", {}) for n in range(4)])
            begin_and_four = p.round_trips  # psycopg sends a BEGIN apart
            p.reset()
            driver_together(conn, [(f"SELECT {n} AS n", {}) for n in range(4)])
            four = p.round_trips
            p.reset()
            driver_together(conn, [("INSERT INTO pair (k, v) VALUES (1, 'một')", {}), ("SELECT 1", {})], commit=True)
            with_commit = p.round_trips
            p.reset()
        after = p.round_trips  # the caller's commit has nothing left to do
    assert (begin_and_four, four, with_commit, after) == (2, 1, 1, 0)
    assert _pairs(table) == [(1, "một")]


# --- an append batch ------------------------------------------------------------------------


@pytest.fixture
def world(ledger: Ledger) -> dict[str, Any]:
    add_org(ledger, "htx-a")
    g = add_product(ledger, "htx-a", 11)
    org = int(ledger.get_org("htx-a")["id"])
    with write_tx(ledger.engine) as conn:
        key = apikeys.create(conn, org, "producer")
    return {"org": org, "key_id": key["key_id"], "lots": [add_lot(ledger, "htx-a", g, f"A-{i}") for i in range(3)]}


def _groups(seq: Sequencer, world: dict[str, Any], note: str) -> list[Group]:
    """One request per lot, each as the API sends it: with the producer key it came with."""
    org = world["org"]
    items = [[{"lot": lot, "event": make_event(ilmd={"note": note})}] for lot in world["lots"]]
    return [Group(org, seq.prepare(org, i, "producer"), key_id=world["key_id"]) for i in items]


def _batch(seq: Sequencer, groups: list[Group]) -> None:
    futures = [seq.submit(g) for g in groups]
    for f in futures:
        f.result(30)


def test_an_append_batch_takes_three_round_trips(
    ledger: Ledger, world: dict[str, Any], proxy: tuple[RoundTripProxy, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys, lots and signing keys (no transaction yet); BEGIN with the lock; the write with its
    COMMIT. After another process appended, the lots and frontier are read under the lock once
    apart, then with the lock."""
    p, through = proxy
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)  # no ping between batches, however slow the machine
    other = Ledger(ledger.engine, ledger.keyring, clock=ledger.clock, log_masterdata=False)
    seq = Sequencer(through, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "warm"))  # connects; the head is not its own yet
        counts = []
        for note in ("steady", "again"):
            groups = _groups(seq, world, note)
            p.reset()
            _batch(seq, groups)
            counts.append(p.round_trips)
        for note in ("surprised", "expected"):
            other.record("htx-a", [{"lot": world["lots"][0], "event": make_event(ilmd={"note": "other"})}])
            groups = _groups(seq, world, note)
            p.reset()
            _batch(seq, groups)
            counts.append(p.round_trips)
    finally:
        seq.close()
    assert counts == [3, 3, 4, 3]
    assert ledger.head().size == audit(ledger.engine).entries
    assert audit(ledger.engine).findings == []


def test_the_pool_pings_only_a_connection_that_sat_unused(
    engine: Engine, proxy: tuple[RoundTripProxy, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pool_pre_ping`` cost a round trip per checkout, so per request and per batch under load;
    now only a connection idle for over ``PING_AFTER_IDLE_SECONDS`` is pinged first."""
    p, through = proxy
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    with through.connect() as conn:  # a new connection: no ping
        conn.exec_driver_sql("SELECT 1")
    p.reset()
    with through.connect() as conn:  # back from the pool at once: no ping either
        pass
    at_once = p.round_trips
    time.sleep(0.5)
    p.reset()
    with through.connect() as conn:
        pinged = p.round_trips
        conn.exec_driver_sql("SELECT 1")
    assert (at_once, pinged) == (0, 1)


def test_a_connection_that_died_while_idle_is_replaced_on_checkout(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pg_only(engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.1)
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        conn.rollback()
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:  # the server ends the pooled connection
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.3)
    with engine.connect() as conn:  # the dead one is pinged, fails, and a new one takes its place
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


def test_prefetch_reads_what_the_separate_reads_read(ledger: Ledger, world: dict[str, Any]) -> None:
    add_org(ledger, "htx-b", generate_key=False)  # signs its entries itself: no server-held key
    org_b = int(ledger.get_org("htx-b")["id"])
    with write_tx(ledger.engine) as conn:
        revoked = apikeys.create(conn, world["org"], "producer")["key_id"]
        apikeys.revoke(conn, revoked)
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock)
    subs = [s for g in _groups(seq, world, "x") for s in g.subs]
    subs[0].actor_org_id = org_b  # as if htx-b sent it: its signer must be asked for
    seq.close()
    asked = [world["key_id"], revoked, "ak_unknown"]
    with write_tx(ledger.engine) as conn:
        got = prefetch(conn, asked, subs, ledger.keyring, ledger.clock())
        assert got.keys == apikeys.unrevoked(conn, asked)
        assert set(got.keys) == {world["key_id"]}
        rows = conn.execute(select(_lot).where(_lot.c.lot_id.in_(world["lots"]))).all()
        assert got.lots == {r.lot_id: _LotState(r.org_id, r.last_seq, r.head_hash) for r in rows}
        assert got.signers.active(conn, world["org"]) is ledger.keyring.active_signer(conn, world["org"])
        with pytest.raises(InputError, match="no server-held active key"):
            got.signers.active(conn, org_b)


def test_rows_made_before_the_lock_are_stored_as_recorded(ledger: Ledger, world: dict[str, Any]) -> None:
    """Entries built before the lock carry their row's JSON (``store.entry_json``); under the lock
    only the index goes in. Every column lands where it belongs, at the index each writer was told."""
    seq = Sequencer(ledger.engine, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "warm"))
        groups = _groups(seq, world, 'Cà phê Cầu Đất "rang" \\ mộc')  # text that JSON must escape
        results = [f.result(30) for f in [seq.submit(g) for g in groups]]
    finally:
        seq.close()
    t: Any = LogEntry.__table__
    for r in results:
        told = r.recorded[0]
        with read_tx(ledger.engine) as conn:
            row = conn.execute(select(t).where(t.c.idx == told["index"])).one()
        event = json.loads(row.event)
        assert (row.lot_id, row.seq, row.signer, bytes(row.leaf_hash).hex()) == (
            told["lot"],
            told["seq"],
            told["signer"],
            told["leaf_hash"],
        )
        assert event["ilmd"]["note"] == 'Cà phê Cầu Đất "rang" \\ mộc' and event["recordTime"] == told["recordTime"]
        assert (row.event_type, row.biz_step, row.event_time) == ("ObjectEvent", "storing", event["eventTime"])
        recorded_at = row.recorded_at if row.recorded_at.tzinfo else row.recorded_at.replace(tzinfo=UTC)
        assert recorded_at == ledger.clock()
    report = audit(ledger.engine)
    assert report.findings == [] and report.entries == ledger.head().size


def test_the_sequencers_autocommit_connection_locks_the_head_inside_a_transaction(ledger: Ledger) -> None:
    """The sequencer reads before the lock in autocommit mode; ``begin=True`` sends the BEGIN with the
    lock, so the lock is held until the transaction ends, and what follows commits or rolls back with it."""
    _pg_only(ledger.engine)
    url = ledger.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = dict(ledger.engine.url.query)["options"].split("=", 1)[1]
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with conn.begin():
            head = store.lock_head(conn, begin=True)
            assert db.in_transaction(conn)
            conn.exec_driver_sql("UPDATE log_head SET updated_at = updated_at WHERE id = 1")
            with psycopg.connect(url, autocommit=True) as other:
                other.execute(f'SET search_path = "{schema}"')
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute("SELECT size FROM log_head WHERE id = 1 FOR UPDATE NOWAIT")
                conn.rollback()
                assert not db.in_transaction(conn)
                assert other.execute("SELECT size FROM log_head WHERE id = 1 FOR UPDATE NOWAIT").fetchone() == (
                    head.size,
                )


# --- a connection the server ended a moment ago ---------------------------------------------


def _end_backends(engine: Engine, pids: list[int]) -> None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as killer:
        for pid in pids:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def own_engine(engine: Engine) -> Iterator[tuple[Engine, list[int]]]:
    """An engine on the test's database of its own, and the server process ids of its connections."""
    _pg_only(engine)
    eng = make_engine(engine.url.render_as_string(hide_password=False))
    pids: list[int] = []
    event.listen(eng, "connect", lambda dbapi_conn, _rec: pids.append(dbapi_conn.info.backend_pid))
    try:
        yield eng, pids
    finally:
        eng.dispose()


def test_a_batch_on_a_connection_the_server_ended_a_moment_ago_is_appended_on_a_new_one(
    ledger: Ledger, world: dict[str, Any], own_engine: tuple[Engine, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart or failover ends the pooled connections; used within the second, they are not
    pinged. The batch's first read finds its connection gone before anything was written, so the
    sequencer runs it again, on a new connection: the pool replaces the others it holds, which
    the server ended too. Every request is answered and stored once."""
    eng, pids = own_engine
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)
    seq = Sequencer(eng, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "before"))
        with eng.connect() as a, eng.connect() as b, eng.connect() as c:  # the pool holds four now
            for conn in (a, b, c):
                conn.exec_driver_sql("SELECT 1")
        size = ledger.head().size
        _end_backends(ledger.engine, list(pids))
        groups = _groups(seq, world, "after")
        results = [f.result(30) for f in [seq.submit(g) for g in groups]]
    finally:
        seq.close()
    assert [r.error for r in results] == [None] * len(groups)
    assert sorted(r.recorded[0]["index"] for r in results) == list(range(size, size + len(groups)))
    assert ledger.head().size == size + len(groups) == audit(ledger.engine).entries
    assert audit(ledger.engine).findings == []


def test_a_connection_lost_before_the_write_took_effect_fails_the_batch_and_is_not_sent_again(
    ledger: Ledger, world: dict[str, Any], own_engine: tuple[Engine, list[int]]
) -> None:
    """Lost as the write goes, before the server ran it: the sequencer finds the batch's entries
    absent, so the requests get the error (503 at the API, nothing stored) and the batch is not
    appended twice."""
    eng, pids = own_engine
    seq = Sequencer(eng, ledger.keyring, ledger.clock, max_wait=0.3)

    def end_at_the_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("WITH entries"):
            _end_backends(ledger.engine, [conn.connection.dbapi_connection.info.backend_pid])

    try:
        _batch(seq, _groups(seq, world, "before"))
        size = ledger.head().size
        event.listen(eng, "before_cursor_execute", end_at_the_write)
        futures = [seq.submit(g) for g in _groups(seq, world, "lost")]
        errors = [f.exception(30) for f in futures]
        event.remove(eng, "before_cursor_execute", end_at_the_write)
        _batch(seq, _groups(seq, world, "next"))  # the sequencer goes on, on a new connection
    finally:
        seq.close()
    assert all(isinstance(e, DBAPIError) and e.connection_invalidated for e in errors), errors
    assert ledger.head().size == size + len(world["lots"]) == audit(ledger.engine).entries
    assert audit(ledger.engine).findings == []


def test_a_batch_whose_commit_took_effect_as_its_connection_was_lost_is_acknowledged(
    ledger: Ledger, world: dict[str, Any], proxy: tuple[RoundTripProxy, Engine]
) -> None:
    """The server ran the write and its COMMIT, and the connection was lost before the answer came
    back. The entries are in the log, so the requests are told they were stored, with their
    indexes: not 503, which a client without an Idempotency-Key would answer by sending them
    again."""
    p, through = proxy
    seq = Sequencer(through, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "before"))
        size = ledger.head().size
        p.cut_after(lambda data: b"cut-here" in data)  # the write carries the events' notes
        groups = _groups(seq, world, "cut-here")
        results = [f.result(30) for f in [seq.submit(g) for g in groups]]
        _batch(seq, _groups(seq, world, "after"))  # and the sequencer goes on, on a new connection
    finally:
        seq.close()
    assert [r.error for r in results] == [None] * len(groups)
    assert sorted(r.recorded[0]["index"] for r in results) == list(range(size, size + len(groups)))
    assert ledger.head().size == size + 2 * len(groups) == audit(ledger.engine).entries
    assert audit(ledger.engine).findings == []


def test_a_batch_lost_as_it_committed_with_the_database_out_of_reach_is_not_called_unstored(
    ledger: Ledger, world: dict[str, Any], proxy: tuple[RoundTripProxy, Engine]
) -> None:
    """The same, but the database cannot be reached to ask: whether the entries are stored cannot
    be told, and the requests are told exactly that (``Unavailable``, 503), not "nothing stored"."""
    p, through = proxy
    seq = Sequencer(through, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "before"))
        size = ledger.head().size
        p.cut_after(lambda data: b"cut-here" in data, then_refuse=True)
        errors = [f.exception(60) for f in [seq.submit(g) for g in _groups(seq, world, "cut-here")]]
        p.refusing = False
        _batch(seq, _groups(seq, world, "after"))
    finally:
        seq.close()
    assert all(isinstance(e, Unavailable) and "cannot be told" in str(e) for e in errors), errors
    assert ledger.head().size == size + 2 * len(world["lots"]) == audit(ledger.engine).entries  # it was stored
    assert audit(ledger.engine).findings == []


def test_the_outcome_of_a_lost_commit_is_told_once_its_transaction_has_ended(
    ledger: Ledger, world: dict[str, Any], proxy: tuple[RoundTripProxy, Engine]
) -> None:
    """The connection goes as the write and its COMMIT are sent, and they reach the server only a
    few seconds later: when the sequencer first asks, they have not run yet. It waits for the lost
    transaction to end (it holds the log-head lock) and then finds the entries: acknowledged,
    not "nothing stored"."""
    p, through = proxy
    seq = Sequencer(through, ledger.keyring, ledger.clock, max_wait=0.3)
    try:
        _batch(seq, _groups(seq, world, "before"))
        size = ledger.head().size
        p.cut_after(lambda data: b"cut-here" in data, hold=3.0)
        started = time.monotonic()
        results = [f.result(30) for f in [seq.submit(g) for g in _groups(seq, world, "cut-here")]]
        waited = time.monotonic() - started
    finally:
        seq.close()
    assert [r.error for r in results] == [None] * len(world["lots"])
    assert sorted(r.recorded[0]["index"] for r in results) == list(range(size, size + len(world["lots"])))
    assert waited >= 3.0  # it was told only once the server had run them
    assert ledger.head().size == size + len(world["lots"]) == audit(ledger.engine).entries
    assert audit(ledger.engine).findings == []
