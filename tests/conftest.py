"""Fixtures: a fresh database per test on SQLite and PostgreSQL, and a ledger over it.

``db_url`` is parametrized over ``sqlite`` (a file in the test's temp folder) and ``postgres``
(marked ``postgres``): on the server at ``LEDGER_TEST_PG_URL`` each test session creates its own
database, and each test gets a fresh schema in it (put first on the connection's search path),
dropped afterwards. A schema costs milliseconds where a database costs a third of a second.
When PostgreSQL cannot be reached the postgres cases skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ledger.service import Ledger
from ledger.store import migrate
from ledger.store.db import make_engine
from ledger.store.keys import KeyRing
from tests.helpers import Clock

PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MASTER_KEY = bytes(range(32))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[psycopg.Connection]:
    """A database for this test session (one per xdist worker), dropped at the end.

    Yields an autocommit connection to it, used to create and drop each test's schema.
    """
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        msg = f"PostgreSQL is unreachable at {PG_URL} (set LEDGER_TEST_PG_URL): {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg + " -- skipping the postgres tests locally; with CI=true this is a failure")
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '20s'")  # a leaked transaction fails teardown, not hangs it
                yield conn
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_schema(conn: psycopg.Connection) -> Iterator[str]:
    """A fresh, empty schema for one test; the URL puts it first on the search path."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(PG_URL).set(database=conn.info.dbname)
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database (no tables yet): a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    yield from _pg_schema(request.getfixturevalue("pg_database"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema migrated to head."""
    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng)
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(engine: Engine, clock: Clock) -> Ledger:
    """A ledger of lot events only, with a fixed master key and a clock the test moves by hand.

    Master data is not written into the log here (``log_masterdata=False``, as before format v2):
    these tests pin the log positions of events. ``v2_ledger`` is the ledger as it runs.
    """
    return Ledger(engine, KeyRing(MASTER_KEY), clock=clock, log_masterdata=False)


@pytest.fixture
def v2_ledger(engine: Engine, clock: Clock) -> Ledger:
    """A ledger as it runs: organizations, keys and products are format v2 entries of the log."""
    return Ledger(engine, KeyRing(MASTER_KEY), clock=clock)
