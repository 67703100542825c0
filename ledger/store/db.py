"""Engines and transactions for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE``
so that a writer takes the database's write lock before it reads the log head (no stale
snapshot can be upgraded). On PostgreSQL the writer locks the ``log_head`` row instead.

``bound(engine, conn)`` makes one open write transaction the ambient one: inside it, ``write_tx``
and ``read_tx`` on that engine reuse it (a nested write is a savepoint) instead of opening their
own, so several writes and the idempotency record that guards them commit together or not at all.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError

from ledger.errors import ConflictError

_ambient: ContextVar[tuple[Engine, Connection] | None] = ContextVar("ledger_ambient_tx", default=None)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for the ledger's locking rules."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if u.drivername == "postgresql":
        url = str(u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    pre_ping = kwargs.pop("pool_pre_ping", None)  # a caller's choice, else a ping when idle
    engine = create_engine(url, pool_pre_ping=bool(pre_ping), **kwargs)
    if pre_ping is None:
        _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection unused for longer is pinged before it is handed out again."""


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection that sat in the pool for more than
    ``PING_AFTER_IDLE_SECONDS``: one checked in a moment ago was working then. Under load every
    request and every append batch takes a connection, and the ping was a round trip each time.
    A connection that fails its ping is replaced by a new one (``DisconnectionError``), as with
    ``pool_pre_ping``; one that died within the second fails its statement, and is invalidated."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info["ledger_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("ledger_idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_SECONDS:
            return  # new (its info goes with a reconnect), or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure means the connection is gone
            raise DisconnectionError(f"the pooled connection failed its ping: {exc}") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any error.

    A unique-constraint race that a caller's own existence check could not see (two writers
    creating the same slug or GTIN at once) surfaces as ``ConflictError``, not a server error.
    """
    outer = _bound_to(engine)
    try:
        if outer is not None:
            with outer.begin_nested():
                yield outer
            return
        with engine.connect().execution_options(ledger_write=True) as conn, conn.begin():
            yield conn
    except IntegrityError as exc:
        raise ConflictError("conflicting write: a record with the same identity was stored meanwhile") from exc


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent snapshot of the data.

    SQLite's deferred transactions already read from one snapshot; PostgreSQL needs
    REPEATABLE READ, or a verification could see entries and tree nodes of different commits.
    """
    outer = _bound_to(engine)
    if outer is not None:
        yield outer
        return
    conn = engine.connect()
    if not is_sqlite(engine):
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    with conn, conn.begin():
        yield conn


@contextmanager
def bound(engine: Engine, conn: Connection) -> Iterator[None]:
    """Make ``conn`` (an open write transaction) the one that ``write_tx`` and ``read_tx`` reuse."""
    previous = _ambient.get()
    _ambient.set((engine, conn))
    try:
        yield
    finally:  # set, not reset: a caller may enter and leave this in different threads' contexts
        _ambient.set(previous)


def _bound_to(engine: Engine) -> Connection | None:
    ambient = _ambient.get()
    return ambient[1] if ambient is not None and ambient[0] is engine else None


# --- hand-written SQL on the append path --------------------------------------------------

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=128)
def _for_driver(sql: str, paramstyle: str) -> str:
    if paramstyle == "pyformat":  # psycopg: %(name)s, and a literal % doubled
        return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
    return sql  # sqlite3 takes :name as it is


def driver_sql(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
    """Run ``sql`` (``:name`` parameters) straight through the database driver.

    For the few statements every append batch runs: SQLAlchemy's statement compilation and caching
    cost about 0.3 ms of CPU per statement on this project's test machines, the driver call 0.1 ms.
    Values go to the driver as they are: pass only what both drivers store alike (numbers, text,
    bytes); times go through ``bind_value`` with their column's type. ``in_list`` writes an IN.
    """
    return conn.exec_driver_sql(_for_driver(sql, conn.dialect.paramstyle), dict(params or {}))


def in_list(conn: Connection, name: str) -> str:
    """``IN``-list SQL for the parameter ``name``; its value goes through ``list_value``."""
    if conn.dialect.name == "postgresql":
        return f"= ANY(:{name})"
    return f"IN (SELECT value FROM json_each(:{name}))"


def list_value(conn: Connection, values: Iterable[Any]) -> Any:
    return list(values) if conn.dialect.name == "postgresql" else json.dumps(list(values))


def bind_value(conn: Connection, column: Any, value: Any) -> Any:
    """``value`` as SQLAlchemy would send it for ``column`` (e.g. a time on SQLite as its text form)."""
    process = column.type.bind_processor(conn.dialect)
    return process(value) if process is not None else value


Statement = tuple[str, Mapping[str, Any]]
"""Hand-written SQL with ``:name`` parameters and their values, as ``driver_sql`` takes them."""


def driver_together(
    conn: Connection, statements: Sequence[Statement], *, begin: bool = False, commit: bool = False
) -> list[list[Any]]:
    """Run ``statements`` in order, as ``driver_sql`` would, and return each one's rows (``[]`` for
    those that return none); with ``commit``, commit the transaction after them.

    ``begin``: on a PostgreSQL connection in autocommit mode (the sequencer's, which reads before
    the log-head lock without a transaction) that is not in a transaction, start one: a ``BEGIN``
    goes first, in the same round trip. Any other connection begins as it always does.

    On PostgreSQL they go in one round trip (psycopg's pipeline mode: sent together, answered
    together, each statement still its own statement with its own snapshot under READ COMMITTED),
    and so does the ``COMMIT``; psycopg sends the ``BEGIN`` of a transaction that has not begun
    yet apart, one round trip before them. An append batch has a few such steps; under load each round trip
    costs a wake-up of the appending thread, and with several processes it is time the log-head
    lock is held.

    The engine's ``before_cursor_execute`` listeners see every statement, as they do through
    ``driver_sql``; its ``commit`` listeners run before the ``COMMIT`` is sent (and once more at the
    caller's commit, which then has nothing to do). A statement that fails fails the rest
    (PostgreSQL skips what follows it in the pipeline, so the ``COMMIT`` never happens, and the
    transaction is rolled back); the error is SQLAlchemy's, as ``driver_sql`` would raise it, and a
    broken connection is invalidated, with the pool's connections made before it.

    Elsewhere (SQLite, in process: no round trips) they run one after another. With ``commit`` the
    transaction is committed when the caller's transaction block ends, as it would be anyway; on
    PostgreSQL that later commit finds nothing left to do.
    """
    if conn.dialect.name != "postgresql":
        out: list[list[Any]] = []
        for text_sql, values in statements:
            result = driver_sql(conn, text_sql, values)
            out.append(list(result.all()) if result.returns_rows else [])
        return out
    import psycopg
    from psycopg.rows import namedtuple_row
    from sqlalchemy.exc import DBAPIError

    raw = conn.connection.driver_connection
    assert raw is not None
    if begin and raw.autocommit and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return driver_together(conn, [("BEGIN", {}), *statements], commit=commit)[1:]
    cursors = []
    sql, params = "", None
    try:
        with raw.pipeline():
            for text_sql, values in statements:
                sql, params = _for_driver(text_sql, conn.dialect.paramstyle), dict[str, Any](values)
                cur = raw.cursor(row_factory=namedtuple_row)
                for listen in conn.dispatch.before_cursor_execute:
                    sql, params = listen(conn, cur, sql, params, None, False)
                cur.execute(sql, params)
                cursors.append(cur)
            if commit:  # as a statement, so it goes with the rest (psycopg's commit() syncs apart)
                sql, params = "COMMIT", None
                conn.dispatch.commit(conn)  # the engine's commit listeners, before the COMMIT goes
                cursors.append(cur := raw.cursor())
                cur.execute("COMMIT")
        return [cur.fetchall() if cur.description is not None else [] for cur in cursors]
    except psycopg.Error as exc:
        broken = raw.broken or raw.closed
        if broken:  # as SQLAlchemy does with a disconnect it sees itself: the pool's older connections
            # are replaced on checkout (the server may have restarted), then this one is dropped
            conn.engine.pool._invalidate(conn.connection, exc)
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, psycopg.Error, connection_invalidated=broken) from exc
    finally:
        for cur in cursors:
            cur.close()


def in_transaction(conn: Connection) -> bool:
    """Whether the database has a transaction open on ``conn`` (not just SQLAlchemy's bookkeeping)."""
    if conn.dialect.name != "postgresql":
        return conn.in_transaction()
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    return bool(raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)
