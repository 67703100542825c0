"""The demo data set of ``ocop-ledger up``: real producers, valid GTINs, every lot verified once anchored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.chain.check import anchor_check_for
from ledger.chain.client import ChainClient
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.cli import demo
from ledger.core import gs1
from tests.chain.support import open_ledger

pytestmark = pytest.mark.chain


def test_demo_seeds_anchors_and_verifies(tmp_path: Path, tester_chain: ChainClient) -> None:
    ledger = open_ledger(tmp_path)
    assert demo.is_fresh(ledger)
    data = demo.seed(ledger)
    assert not demo.is_fresh(ledger)
    assert all(gs1.normalize_gtin(g) == g and g.startswith("0893") for g in data.gtins.values())
    assert {o["kind"] for o in ledger.list_orgs()} == {"cooperative", "company", "inspector", "exporter"}
    AnchorWorker(ledger.engine, tester_chain, WorkerConfig()).tick(force=True)
    check = anchor_check_for(ledger, tester_chain)
    verdicts = {lot: ledger.verify_lot(lot, check).verdict for lot in data.lots}
    assert set(verdicts.values()) == {"verified"}, verdicts
    steps = [e.biz_step for e in ledger.verify_lot(data.featured, check).entries]
    assert steps == ["commissioning", "ocop:freezing", "inspecting", "packing", "shipping"]
    durian = ledger.get_product(data.gtins["chanh-thu/1"])
    assert (durian["brand"], durian["name_zh"]) == ("DuriVy", "DuriVy 冷冻整颗榴莲")
    assert ledger.get_product(data.gtins["dong-a/1"])["net_content"] == {"value": 400, "unit": "GRM"}
