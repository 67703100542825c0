"""Verification against the chain: verified once anchored, pending before, tampered when the chain disagrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.chain.check import anchor_check_for
from ledger.chain.client import ChainClient, make_web3
from ledger.chain.devchain import record_deployment
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.cli.common import anchor_check as cli_anchor_check
from tests.chain.support import Farm, free_port, settings_for

pytestmark = pytest.mark.chain


def anchor_now(farm: Farm, chain: ChainClient) -> None:
    AnchorWorker(farm.ledger.engine, chain, WorkerConfig()).tick(force=True)


def test_pending_before_the_first_anchor(farm: Farm, tester_chain: ChainClient) -> None:
    lot = farm.new_lot()
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, tester_chain))
    assert report.verdict == "pending"
    assert report.anchor is not None and report.anchor["status"] == "none" and report.anchor["tree_size"] == 0
    assert report.entries[0].checks["anchor"] == "pending"


def test_verified_once_anchored_with_the_anchor_reported(farm: Farm, tester_chain: ChainClient) -> None:
    lot = farm.new_lot()
    farm.add(lot, 2)
    anchor_now(farm, tester_chain)
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, tester_chain))
    assert report.verdict == "verified"
    assert all(e.checks["anchor"] == "ok" for e in report.entries)
    a = report.anchor
    assert a is not None
    assert (a["status"], a["chain_id"], a["contract"], a["tree_size"]) == (
        "anchored",
        tester_chain.chain_id,
        tester_chain.address,
        3,
    )
    assert a["root"] == farm.ledger.head().root.hex()
    assert a["tx_hash"].startswith("0x") and a["block_number"] >= 1 and a["block_time"]


def test_entries_after_the_anchor_are_pending(farm: Farm, tester_chain: ChainClient) -> None:
    old, new = farm.new_lot(), farm.new_lot()
    anchor_now(farm, tester_chain)
    farm.add(new, 1)
    farm.add(farm.new_lot(), 1)
    check = anchor_check_for(farm.ledger, tester_chain)
    assert farm.ledger.verify_lot(old, check).verdict == "verified"
    report = farm.ledger.verify_lot(new, check)
    assert report.verdict == "pending"
    assert [e.checks["anchor"] for e in report.entries] == ["ok", "pending"]


def test_a_root_on_chain_that_the_log_does_not_match_is_tampering(farm: Farm, tester_chain: ChainClient) -> None:
    """The operator rewrote the log after anchoring: the chain's root no longer matches the proofs."""
    lot = farm.new_lot()
    farm.add(lot, 1)
    size = farm.ledger.head().size
    tester_chain.wait_receipt(tester_chain.send_anchor(b"\x5a" * 32, size))
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, tester_chain))
    assert report.verdict == "tampered"
    assert report.failure is not None and report.failure.check == "anchor" and report.failure.seq == 0
    assert f"expected root {'5a' * 32} from chain, got {farm.ledger.head().root.hex()}" in report.failure.message


def test_a_chain_ahead_of_the_local_log_means_truncation(farm: Farm, tester_chain: ChainClient) -> None:
    lot = farm.new_lot()
    tester_chain.wait_receipt(tester_chain.send_anchor(b"\x5a" * 32, 10))
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, tester_chain))
    assert report.verdict == "tampered" and report.failure is not None
    assert "chain has anchored tree size 10 but the local log has only 1 entries" in report.failure.message


def test_unreachable_chain_says_unverifiable(farm: Farm, tmp_path: Path) -> None:
    # issue 11: a chain that cannot answer gives no verdict on the data (was "pending")
    lot = farm.new_lot()
    dead = ChainClient(make_web3(f"http://127.0.0.1:{free_port()}", timeout=2), "0x" + "00" * 20)
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, dead))
    assert report.verdict == "unverifiable" and report.anchor is not None
    assert report.anchor["status"] == "unreachable" and "ConnectionError" in report.anchor["error"]


def test_unreachable_rpc_from_settings_says_unverifiable(farm: Farm, tmp_path: Path) -> None:
    # the composition root (the CLI) builds the chain client from settings, not the check itself
    settings = settings_for(tmp_path, rpc_url=f"http://127.0.0.1:{free_port()}")
    report = farm.ledger.verify_lot(farm.new_lot(), cli_anchor_check(farm.ledger, settings=settings))
    assert report.verdict == "unverifiable" and report.anchor is not None
    assert report.anchor == {"status": "unreachable", "error": report.anchor["error"]}


def test_no_contract_known_says_pending(farm: Farm, tester_chain: ChainClient, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    check = cli_anchor_check(farm.ledger, settings=settings)  # default devchain port: nothing deployed there
    verdict = farm.ledger.verify_lot(farm.new_lot(), check).verdict
    assert check.info["status"] in ("unreachable", "not_configured")
    # issue 11: a chain that cannot answer is unverifiable; with no chain configured at all, pending
    assert verdict == ("unverifiable" if check.info["status"] == "unreachable" else "pending")


def test_explorer_link(farm: Farm, tester_chain: ChainClient, tmp_path: Path) -> None:
    farm.new_lot()
    anchor_now(farm, tester_chain)
    record_deployment(tmp_path, tester_chain.chain_id, {"address": tester_chain.address})
    settings = settings_for(tmp_path, explorer_url="https://sepolia.etherscan.io/")
    check = anchor_check_for(farm.ledger, tester_chain, settings.explorer_url)
    assert check.info["explorer_tx_url"] == f"https://sepolia.etherscan.io/tx/{check.info['tx_hash']}"
