"""The composition root of the API (``ledger.cli.wiring``) and the chain as the facade sees it:
the app factory builds settings, the ledger and a lazy chain reader from the environment, and a
chain that cannot be connected leaves verdicts ``pending`` with the reason (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient

from ledger.chain.lazy import LazyChainReader
from ledger.cli.wiring import create_app_from_env
from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate
from ledger.errors import AnchorError
from ledger.service import Ledger, chain_ids
from tests.api.conftest import GTIN_A
from tests.chain.support import free_port
from tests.conftest import MASTER_KEY


def _down() -> LazyChainReader:
    def connect() -> NoReturn:
        raise AnchorError("cannot reach http://127.0.0.1:9/: connection refused")

    return LazyChainReader(connect)


def test_no_chain_is_not_configured(ledger: Ledger) -> None:
    check = ledger.anchor_check(None)
    assert check(0, b"\x00" * 32) == "pending"
    assert check.info == {"status": "not_configured", "error": "no chain configured"}  # type: ignore[attr-defined]


def test_a_chain_that_cannot_connect_says_why(ledger: Ledger) -> None:
    chain = _down()
    check = ledger.anchor_check(chain)
    assert check.info == {  # type: ignore[attr-defined]
        "status": "not_configured",
        "error": "cannot reach http://127.0.0.1:9/: connection refused",
    }
    assert chain_ids(chain) is None  # asked without connecting: anchors are listed for every chain


def test_the_factory_builds_the_app_from_the_environment(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name, value in {
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_DATABASE_URL": db_url,
        "LEDGER_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
        "LEDGER_RPC_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: the chain is down
        "LEDGER_PUBLIC_URL": "https://ocop.example.vn",
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app_from_env()
    ledger: Ledger = app.state.services.ledger
    try:
        ledger.create_org(OrganizationCreate(name="HTX Phú Hội", slug="htx", kind="cooperative"))
        ledger.create_product("htx", ProductCreate(gtin=GTIN_A, name_vi="Thanh long"))
        ledger.create_lot("htx", LotCreate(gtin=GTIN_A, code="PH-1"))
        with TestClient(app) as client:
            # issue 11: the organization, its key and the product are log entries too, before the lot's
            assert client.get("/healthz").json() == {"status": "ok", "tree_size": 3 + 1}
            body = client.get(f"/api/v1/lots/{GTIN_A}.PH-1/verify").json()
        assert body["verdict"] == "pending"
        assert body["anchor"]["status"] == "not_configured" and "127.0.0.1" in body["anchor"]["error"]
    finally:
        ledger.engine.dispose()
