"""Fixtures for the API tests: the app over a fresh ledger (SQLite and PostgreSQL), callers with keys.

``ledger`` comes from ``tests/conftest.py`` (parametrized over both databases). ``world`` holds
two cooperatives, an inspector, an exporter and an admin, each with an API key, and one lot of
cooperative A whose code contains a '/'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.config import ApiSettings
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import apikeys
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry, Lot, Product

PUBLIC_URL = "https://ocop.example.vn"
GTIN_A = "08930000045676"
GTIN_B = "08930000000019"
LOT_CODE = "PH/2026-07"  # a '/' inside the lot code on purpose
LOT_A = f"{GTIN_A}.{LOT_CODE}"
LOT_A_PATH = f"{GTIN_A}.PH%2F2026-07"


def api_settings(**kw: Any) -> ApiSettings:
    return ApiSettings(_env_file=None, **{"rate_limit": 0.0, "log_requests": True, **kw})  # type: ignore[call-arg]


def make_settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path, public_url=PUBLIC_URL, _env_file=None, **kw)  # type: ignore[call-arg]


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def counts(self) -> tuple[int, int, int]:
        """(log entries, lots, products): what a rejected request must leave unchanged."""
        with read_tx(self.ledger.engine) as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())  # type: ignore[attr-defined]
                for t in (LogEntry, Lot, Product)
            )


def add_org(ledger: Ledger, name: str, slug: str, kind: str, role: str) -> tuple[dict[str, Any], str]:
    org = ledger.create_org(OrganizationCreate(name=name, slug=slug, kind=kind, province="Lâm Đồng"))  # type: ignore[arg-type]
    with write_tx(ledger.engine) as conn:
        key = apikeys.create(conn, int(org["id"]), role)
    return org, str(key["token"])


def event(step: str = "storing", time: str = "2026-07-02T06:30:00+07:00", **extra: Any) -> dict[str, Any]:
    return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "eventTime": time, **extra}


def build_world(ledger: Ledger, client: TestClient) -> World:
    w = World(ledger, client)
    for who, name, kind, role in (
        ("a", "HTX Thanh long Phú Hội", "cooperative", "producer"),
        ("b", "HTX Cà phê Công Bằng", "cooperative", "producer"),
        ("inspector", "Trung tâm Kiểm định Quatest 3", "inspector", "inspector"),
        ("exporter", "Công ty Xuất khẩu Sài Gòn", "exporter", "exporter"),
        ("admin", "OCOP Ledger vận hành", "operator", "admin"),
    ):
        w.orgs[who], w.tokens[who] = add_org(ledger, name, f"org-{who}", kind, role)
    ledger.create_product(
        "org-a",
        ProductCreate(
            gtin=GTIN_A,
            name_vi="Thanh long ruột đỏ Phú Hội",
            name_en="Phu Hoi red dragon fruit",
            category="fruit",
            ocop_stars=4,
            ocop_year=2024,
            certifications=[{"scheme": "VietGAP", "certificate_no": "VG-0042"}],  # type: ignore[list-item]
        ),
    )
    ledger.create_product("org-b", ProductCreate(gtin=GTIN_B, name_vi="Cà phê bột Công Bằng"))
    ledger.create_lot(
        "org-a",
        {
            "gtin": GTIN_A,
            "code": LOT_CODE,
            "origin_province": "Lâm Đồng",
            "quantity": 1200,
            "unit": "KGM",
            "event_time": "2026-07-01T06:30:00+07:00",
        },
    )
    return w


@pytest.fixture
def app_factory(ledger: Ledger, tmp_path: Path) -> Any:
    def make(**api_kw: Any) -> TestClient:
        app = create_app(
            make_settings(tmp_path), ledger=ledger, connect_chain=False, api_settings=api_settings(**api_kw)
        )
        return TestClient(app, raise_server_exceptions=False)

    return make


@pytest.fixture
def client(app_factory: Any) -> Iterator[TestClient]:
    with app_factory() as c:
        yield c


@pytest.fixture
def world(ledger: Ledger, client: TestClient) -> World:
    return build_world(ledger, client)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def chain_world(tmp_path: Path) -> Iterator[Any]:
    """A real anvil with the contract, a SQLite ledger with a cooperative and a product (see anvil_support)."""
    from tests.api.anvil_support import start_chain_world

    yield from start_chain_world(tmp_path)
