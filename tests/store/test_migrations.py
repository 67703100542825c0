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

import ledger.store.keys
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


def test_0009_upgrades_a_format_v1_ledger_and_open_writes_its_master_data(db_url: str, tmp_path: Any) -> None:
    """An older ledger (schema 0008, lot events only) upgrades; Ledger.open backfills orgs, keys, products."""
    import base64

    from ledger.service import Ledger
    from ledger.settings import Settings
    from ledger.store import v2log
    from ledger.store.db import read_tx
    from tests.conftest import MASTER_KEY
    from tests.helpers import add_lot, add_org, add_product

    eng = make_engine(db_url)
    try:
        migrate.upgrade(eng)
        old = Ledger(eng, ledger.store.keys.KeyRing(MASTER_KEY), log_masterdata=False)
        add_org(old, "htx-phu-hoi")
        lot = add_lot(old, "htx-phu-hoi", add_product(old, "htx-phu-hoi", 4567), "PH-1")
        assert old.head().size == 1
        cfg = migrate.alembic_config()
        with write_tx(eng) as conn:  # the data written as a format v1 ledger (schema 0008) held it
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        assert "name_zh" not in {c["name"] for c in inspect(eng).get_columns("product")}
    finally:
        eng.dispose()
    settings = Settings(database_url=db_url, data_dir=tmp_path, master_key=base64.b64encode(MASTER_KEY).decode(),
                        _env_file=None)  # type: ignore[call-arg]  # fmt: skip
    led = Ledger.open(settings)
    try:
        assert migrate.is_current(led.engine)
        assert led.head().size == 1 + 3  # the lot's event, then the org, its key and the product
        with read_tx(led.engine) as conn:
            assert [
                e["body"]["action"] for e in v2log.subject_entries(conn, f"key:{led.get_org(1)['keys'][0]['key_id']}")
            ] == ["register"]
        assert led.verify_lot(lot).verdict == "pending" and led.verify_lot(lot).product is not None
        again = Ledger.open(settings)
        assert again.head().size == 4  # once
        again.engine.dispose()
    finally:
        led.engine.dispose()


def test_0010_adds_the_product_facts_and_drops_them_on_downgrade(db_url: str) -> None:
    """Existing products get no brand, net content, zh/ja names and an empty image list; downgrade keeps them."""
    from sqlalchemy import text

    eng = make_engine(db_url)
    try:
        cfg = migrate.alembic_config()
        with write_tx(eng) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0009")
            conn.execute(text("INSERT INTO organization (slug, name, kind, gs1_prefixes, created_at) "
                              "VALUES ('htx-a', 'HTX A', 'cooperative', '[]', '2026-07-01 00:00:00')"))  # fmt: skip
            conn.execute(text("INSERT INTO product (gtin, org_id, name_vi, certifications, created_at) "
                              "VALUES ('08930000045676', 1, 'Thanh long', '[]', '2026-07-01 00:00:00')"))  # fmt: skip
            command.upgrade(cfg, "0010")
            row = conn.execute(text("SELECT name_zh, name_ja, brand, net_content, images FROM product")).one()
            assert (row.name_zh, row.name_ja, row.brand, row.net_content) == (None, None, None, None)
            assert row.images in ("[]", [])
            command.downgrade(cfg, "0009")
            assert {c["name"] for c in inspect(conn).get_columns("product")} >= {"gtin", "name_vi"}
            assert not {"name_zh", "name_ja", "brand", "net_content", "images"} & {
                c["name"] for c in inspect(conn).get_columns("product")
            }
            assert conn.execute(text("SELECT name_vi FROM product")).scalar_one() == "Thanh long"
    finally:
        eng.dispose()
