"""A real anvil with the contract deployed, a ledger with a lot, and anchoring by B's AnchorWorker.

anvil is ``node_modules/.bin/anvil`` (or ``LEDGER_ANVIL_BIN``); without it these tests skip
locally and fail with ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from ledger.chain.client import ANVIL_DEV_KEY, ChainClient, make_web3
from ledger.chain.devchain import Devchain, find_anvil
from ledger.chain.worker import AnchorWorker
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.errors import ConfigError
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store.db import read_tx
from ledger.store.models import Anchor
from tests.api.conftest import api_settings

MASTER_KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
GTIN = "08930000045676"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def anvil_binary() -> Path:
    explicit = os.environ.get("LEDGER_ANVIL_BIN")
    try:
        return find_anvil(Path(explicit) if explicit else None)
    except ConfigError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI=true: the anvil tests must run)", pytrace=False)
        pytest.skip(f"{exc} -- skipping locally; with CI=true this is a failure")
        raise


@dataclass
class ChainWorld:
    data_dir: Path
    settings: Settings
    ledger: Ledger
    devchain: Devchain
    chain: ChainClient
    worker: AnchorWorker

    @property
    def rpc(self) -> str:
        return self.devchain.url

    def new_lot(self, code: str, events: int = 3) -> str:
        lot = self.ledger.create_lot(
            "htx-phu-hoi",
            {
                "gtin": GTIN,
                "code": code,
                "origin_province": "Lâm Đồng",
                "origin_commune": "Phú Hội",
                "quantity": 1200,
                "unit": "KGM",
                "harvest_start": "2026-06-28",
                "harvest_end": "2026-07-01",
                "event_time": "2026-07-01T06:30:00+07:00",
            },
        )["lot_id"]
        steps = ["ocop:harvesting", "ocop:cooling", "packing", "storing", "loading"]
        items = [
            {
                "lot": lot,
                "event": {
                    "type": "ObjectEvent",
                    "action": "OBSERVE",
                    "bizStep": steps[i % len(steps)],
                    "eventTime": f"2026-07-{2 + i // 24:02d}T{6 + i % 12:02d}:{i % 60:02d}:00+07:00",
                    "bizLocation": {"id": "urn:ocop:loc:VN-LDPH-0042", "name": "Vườn Phú Hội", "province": "Lâm Đồng"},
                },
            }
            for i in range(events)
        ]
        if items:
            self.ledger.record("htx-phu-hoi", items)
        return str(lot)

    def anchor(self, timeout: float = 20.0) -> int:
        """Anchor the current log head and wait until its row is confirmed."""
        size = self.ledger.head().size
        self.worker.tick(force=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with read_tx(self.ledger.engine) as conn:
                row = conn.execute(
                    select(Anchor.__table__).where(  # type: ignore[attr-defined]
                        Anchor.tree_size == size, Anchor.status == "confirmed"
                    )
                ).first()
            if row is not None:
                return size
            self.worker.tick()
            time.sleep(0.05)
        raise AssertionError(f"anchor at size {size} not confirmed within {timeout} s")

    def app(self, **api_kw: Any) -> Any:
        return create_app(
            self.settings,
            ledger=self.ledger,
            chain=self.chain,
            connect_chain=False,
            api_settings=api_settings(**api_kw),
        )

    def client(self, **api_kw: Any) -> TestClient:
        return TestClient(self.app(**api_kw), raise_server_exceptions=False)


def start_chain_world(tmp: Path, database_url: str | None = None) -> Iterator[ChainWorld]:
    devchain = Devchain(anvil_binary(), free_port(), tmp / "anvil-state.json", tmp / "anvil.log")
    devchain.start()
    try:
        chain, _ = ChainClient.deploy(make_web3(devchain.url), Account.from_key(ANVIL_DEV_KEY))
        settings = Settings(  # type: ignore[call-arg]
            data_dir=tmp / "data",
            master_key=MASTER_KEY_B64,
            database_url=database_url,
            rpc_url=devchain.url,
            contract_address=chain.address,
            public_url="http://127.0.0.1:8000",
            _env_file=None,
        )
        ledger = Ledger.open(settings)
        ledger.create_org(OrganizationCreate(name="HTX Thanh long Phú Hội", slug="htx-phu-hoi", province="Lâm Đồng"))
        ledger.create_product(
            "htx-phu-hoi",
            ProductCreate(
                gtin=GTIN,
                name_vi="Thanh long ruột đỏ Phú Hội",
                name_en="Phu Hoi red dragon fruit",
                ocop_stars=4,
                ocop_year=2024,
                certifications=[{"scheme": "VietGAP", "certificate_no": "VG-LD-0042"}],  # type: ignore[list-item]
            ),
        )
        worker = AnchorWorker(ledger.engine, chain)
        yield ChainWorld(tmp, settings, ledger, devchain, chain, worker)
    finally:
        devchain.stop()
