"""The tamper lab: a realistic anchored ledger in a SQLite file, and a checker for copies of it.

``build(path)`` writes six organizations (three cooperatives, a company, an inspector and an
exporter), eight products, 200+ lots with harvesting/packing/inspection/shipping events,
transformations of raw lots into processed ones, a key rotation and a key revoked after its
last use, and three anchors made by the real anchor worker on an in-process EVM (py-evm).
The chain's anchored roots are read once and kept in ``Built.chain`` (a read-only stand-in
with the contract's answers), so each mutated copy is checked against what the contract holds.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import EthereumTesterProvider, Web3

from ledger.audit.auditor import AuditReport, audit
from ledger.chain.check import anchor_check_for
from ledger.chain.client import ChainClient
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.core.verify import LotReport
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import migrate
from ledger.store.db import make_engine
from ledger.store.keys import KeyRing
from ledger.store.photos import PhotoStore
from tests.helpers import Clock, event, gtin, lot_fields, transformation

MASTER_KEY = bytes(range(32))
COOPS = ("htx-phu-hoi", "htx-cai-mon", "htx-thuan-an", "cty-dong-lanh")
INSPECTOR, EXPORTER = "quatest-3", "vina-export"
AUTHORITY = "ocop-lam-dong"  # an organization of kind authority: attests facts about products


@dataclass
class CachedChain:
    """The contract's answers (anchored sizes and roots), read from the real chain once."""

    chain_id: int
    address: str
    roots: dict[int, bytes]

    def latest_tree_size(self) -> int:
        return max(self.roots, default=0)

    def root_at(self, size: int) -> bytes:
        return self.roots.get(size, b"\x00" * 32)


@dataclass
class Built:
    path: Path
    chain: CachedChain
    lots: list[str] = field(default_factory=list)
    entries: int = 0


def _ledger(url: str, clock: Clock, photos: Path) -> Ledger:
    engine = make_engine(url)
    migrate.upgrade(engine)
    return Ledger(engine, KeyRing(MASTER_KEY), clock=clock, photos=PhotoStore(photos))


def build(path: Path, *, lots_per_coop: int = 55, seed: int = 7) -> Built:
    """Write the ledger to the SQLite file ``path`` (about 700 entries, 220+ lots, 3 anchors)."""
    rng = random.Random(seed)
    clock = Clock()
    led = _ledger(f"sqlite:///{path}", clock, path.parent / "photos")
    w3 = Web3(EthereumTesterProvider())
    account = Account.from_key(w3.provider.ethereum_tester.backend.account_keys[0])  # type: ignore[attr-defined]
    chain, _ = ChainClient.deploy(w3, account)
    worker = AnchorWorker(led.engine, chain, WorkerConfig())
    for slug, kind in [*((c, "cooperative") for c in COOPS[:3]), (COOPS[3], "company")]:
        led.create_org(OrganizationCreate(name=f"Tổ chức {slug}", slug=slug, kind=kind, province="Lâm Đồng"))
    led.create_org(OrganizationCreate(name="Quatest 3", slug=INSPECTOR, kind="inspector"))
    led.create_org(OrganizationCreate(name="Vina Export", slug=EXPORTER, kind="exporter"))
    products: dict[str, list[str]] = {}
    for n, org in enumerate(COOPS):
        products[org] = []
        for k in range(2):
            g = gtin(1000 + 10 * n + k)
            facts: dict[str, Any] = {}
            if k == 0:  # every fact a page shows (issue 11); the other product leaves the optional ones out
                image = led.store_product_image(b"\x89PNG\r\n\x1a\n" + f"lab {n}".encode())
                facts = {"name_en": f"Product {n}", "name_zh": f"产品 {n}", "name_ja": f"製品 {n}",
                         "brand": f"Nhãn {n}", "net_content": {"value": 500, "unit": "GRM"},
                         "images": [image["sha256"]]}  # fmt: skip
            led.create_product(
                org, ProductCreate(gtin=g, name_vi=f"Sản phẩm {n}-{k}", ocop_stars=3 + k, ocop_year=2024, **facts)
            )
            products[org].append(g)
    # an authority vouches for facts about the first products (issue 11): a rating, a certification, one revoked
    led.create_org(OrganizationCreate(name="Hội đồng OCOP tỉnh Lâm Đồng", slug=AUTHORITY, kind="authority"))
    for org in COOPS[:2]:
        about = {"type": "product", "id": products[org][0]}
        led.attest(AUTHORITY, about, {"type": "ocop_rating", "stars": 4, "year": 2025, "decision": "12/QĐ-UBND"})
        led.attest(AUTHORITY, about, {"type": "certification", "scheme": "VietGAP", "number": f"VG-{org}"})
    led.revoke_attestation(f"attestation:{AUTHORITY}:4")
    built = Built(path, CachedChain(0, "", {}))
    owner: dict[str, str] = {}
    for round_ in range(2):
        for org in COOPS:
            for i in range(lots_per_coop // 2 + round_):
                g = products[org][i % 2]
                code = f"L{round_}-{i:03d}"
                extra: dict[str, Any] = {"quantity": 100 + i, "plot_area_ha": round(1 + rng.random() * 3, 2)}
                lot = str(led.create_lot(org, lot_fields(g, code, **extra))["lot_id"])
                owner[lot] = org
                built.lots.append(lot)
                clock.advance(seconds=1)
        _events(led, rng, owner, built.lots, clock)
        worker.tick(force=True)
        if round_ == 0:
            led.generate_key(COOPS[0])  # rotation: the old key retires, its entries stay valid
    # transformations: two raw lots of a coop into a processed lot of the company
    for n in range(6):
        raws = [lot for lot in built.lots if owner[lot] == COOPS[n % 3]][2 * n : 2 * n + 2]
        out = str(led.create_lot(COOPS[3], lot_fields(products[COOPS[3]][0], f"TF-{n:02d}"))["lot_id"])
        owner[out] = COOPS[3]
        built.lots.append(out)
        # the raw lots' owner releases them first (ledger.core.policy: a transformation consumes another
        # organization's lot only after its owner signed a shipping event on it)
        led.record(COOPS[n % 3], [{"lot": raw, "event": event("shipping")} for raw in raws])
        led.record(COOPS[3], [{"lot": out, "event": transformation(raws)}])
    # a key used and then revoked: its entries stay valid, later ones would not be
    key = led.generate_key(INSPECTOR)
    led.record(INSPECTOR, [{"lot": built.lots[0], "event": event("inspecting", time="2026-07-09T08:00:00+07:00")}])
    clock.advance(hours=1)
    led.revoke_key(str(key["key_id"]), reason="rotated after audit")
    led.generate_key(INSPECTOR)
    led.record(COOPS[0], [{"lot": built.lots[1], "event": event("storing")}])
    worker.tick(force=True)
    built.chain = CachedChain(chain.chain_id, chain.address, _roots(chain, led.engine))
    built.entries = led.head().size
    led.engine.dispose()
    return built


def _roots(chain: ChainClient, engine: Any) -> dict[int, bytes]:
    """The root the contract holds at each size the worker anchored (sizes from the anchor rows)."""
    from sqlalchemy import select

    from ledger.store.models import Anchor

    t = Anchor.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        sizes = [int(n) for (n,) in conn.execute(select(t.c.tree_size).where(t.c.status == "confirmed"))]
    return {n: bytes(chain.root_at(n)) for n in sizes}


def _events(led: Ledger, rng: random.Random, owner: dict[str, str], lots: list[str], clock: Clock) -> None:
    steps = ["ocop:harvesting", "ocop:cooling", "packing"]
    by_org: dict[str, list[dict[str, Any]]] = {}
    for lot in lots:
        for s in steps[: rng.randint(1, 3)]:
            ev = event(s, time=f"2026-07-0{rng.randint(2, 4)}T0{rng.randint(1, 9)}:15:00+07:00")
            by_org.setdefault(owner[lot], []).append({"lot": lot, "event": ev})
    for org, items in by_org.items():
        led.record(org, items)
        clock.advance(seconds=5)
    picked = rng.sample(lots, 30)
    led.record(INSPECTOR, [{"lot": lot, "event": event("inspecting")} for lot in picked[:15]])
    led.record(EXPORTER, [{"lot": lot, "event": event("shipping")} for lot in picked[15:]])
    clock.advance(seconds=5)


# --- checking a copy ------------------------------------------------------------------------


def copy(built: Built, dest: Path) -> str:
    shutil.copyfile(built.path, dest)
    return f"sqlite:///{dest}"


def check(url: str, built: Built, lot: str | None, data_dir: Path) -> tuple[AuditReport, LotReport | None]:
    """Audit the copy at ``url`` against the chain, and verify ``lot`` with the chain's anchor check."""
    engine = make_engine(url)
    try:
        led = Ledger(engine, KeyRing(MASTER_KEY))
        report = audit(engine, chain=built.chain)
        verdict = None
        if lot is not None:
            settings = Settings(data_dir=data_dir, _env_file=None)
            verdict = led.verify_lot(lot, anchor_check_for(led, built.chain, settings.explorer_url))  # type: ignore[arg-type]
        return report, verdict
    finally:
        engine.dispose()
