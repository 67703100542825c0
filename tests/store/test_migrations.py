"""Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlmodel import SQLModel

import ledger.store.models  # noqa: F401  (registers the tables)
from ledger.core import merkle
from ledger.store import migrate
from ledger.store.db import make_engine, write_tx
from ledger.store.models import LogHead


@pytest.fixture
def empty_engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _diffs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, SQLModel.metadata))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_on_an_empty_database_matches_the_models(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()
    assert not migrate.is_current(empty_engine)
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    assert _diffs(empty_engine) == []
    assert _tables(empty_engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    migrate.upgrade(empty_engine)  # running it again changes nothing
    head: Any = LogHead.__table__
    with empty_engine.connect() as conn:
        rows = conn.execute(select(head.c.id, head.c.size, head.c.root)).all()
    assert [(r.id, r.size, bytes(r.root)) for r in rows] == [(1, 0, merkle.EMPTY_ROOT)]


def test_downgrade_to_base_and_up_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    cfg = migrate.alembic_config()
    with write_tx(empty_engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert _tables(empty_engine) == {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert _diffs(empty_engine) == []
