"""Fault tests against a real anvil: SIGKILLed workers, a chain outage, two workers at once.

Workers run as real ``ocop-ledger anchor-worker`` processes. ``LEDGER_FAULT=<point>`` makes a
worker SIGKILL itself at that point (the hook is inert unless the variable is set).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.chain.check import anchor_check_for
from ledger.chain.client import ChainClient, make_web3
from ledger.chain.devchain import Devchain, load_deployments
from ledger.chain.worker import FAULT_POINTS
from ledger.store.db import read_tx
from ledger.store.models import Anchor
from tests.chain.support import Farm, Proc, cli_env, open_ledger, run_cli, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]
_anchor = Anchor.__table__  # type: ignore[attr-defined]


def deploy(env: dict[str, str], cwd: Path, data: Path, url: str) -> ChainClient:
    res = run_cli(["deploy"], env, cwd)
    assert res.returncode == 0, res.stderr
    return ChainClient(make_web3(url), load_deployments(data)["31337"]["address"])


def assert_one_anchor_per_head(chain: ChainClient, farm: Farm, anchors: int) -> None:
    """Every tree head on chain once, no wasted transaction, the whole log anchored and confirmed."""
    sizes = Counter(e.tree_size for e in chain.anchored_events())
    assert all(n == 1 for n in sizes.values()) and len(sizes) == anchors, sizes
    deployer = load_deployments(farm_data(farm))["31337"]["deployer"]
    assert chain.nonce(deployer) == 1 + anchors  # the deploy, then exactly one transaction per anchor
    assert chain.latest_tree_size() == farm.ledger.head().size
    with read_tx(farm.ledger.engine) as conn:
        statuses = [r.status for r in conn.execute(select(_anchor.c.status))]
    assert statuses == ["confirmed"] * anchors


def farm_data(farm: Farm) -> Path:
    return Path(str(farm.ledger.engine.url.database)).parent


def test_sigkill_at_every_fault_point_then_restart(anvil: Devchain, farm: Farm, tmp_path: Path) -> None:
    data = farm_data(farm)
    env = cli_env(data, anvil.url)
    chain = deploy(env, tmp_path, data, anvil.url)
    lot = farm.new_lot()
    for round_no, point in enumerate(FAULT_POINTS, start=1):
        farm.add(lot, round_no)
        killed = run_cli(["anchor-worker", "--once"], {**env, "LEDGER_FAULT": point}, tmp_path)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert f"LEDGER_FAULT={point}" in killed.stderr
        again = run_cli(["anchor-worker", "--once"], env, tmp_path)
        assert again.returncode == 0, again.stderr
        assert_one_anchor_per_head(chain, farm, round_no)
    report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, chain))
    assert report.verdict == "verified", report.to_json()


def test_chain_outage_ingest_goes_on_and_the_worker_catches_up(anvil: Devchain, farm: Farm, tmp_path: Path) -> None:
    data = farm_data(farm)
    env = cli_env(data, anvil.url, LEDGER_ANCHOR_INTERVAL="0.2", LEDGER_ANCHOR_RETRY_MAX="1")
    chain = deploy(env, tmp_path, data, anvil.url)
    lot = farm.new_lot()
    worker = Proc(["anchor-worker"], env, tmp_path, tmp_path / "worker.log")
    try:
        wait_until(lambda: chain.latest_tree_size() == farm.ledger.head().size, what="the first anchor")
        first_root = chain.root_at(1)
        anvil.stop()  # SIGTERM: anvil dumps its state
        farm.add(lot, 5)  # ingest does not wait for the chain
        report = farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, chain))
        # issue 11: the chain cannot answer: unverifiable, never tampered (was "pending")
        assert report.verdict == "unverifiable" and report.anchor is not None
        assert report.anchor["status"] == "unreachable"
        worker.wait_for("retrying in", timeout=10)
        anvil.start()  # same --state file
        assert chain.root_at(1) == first_root
        wait_until(lambda: chain.latest_tree_size() == farm.ledger.head().size, what="the worker to catch up")
        assert farm.ledger.verify_lot(lot, anchor_check_for(farm.ledger, chain)).verdict == "verified"
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0, worker.text()
    assert "anchor worker stopped" in worker.text()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_workers_only_one_anchors(
    backend: str, anvil: Devchain, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    farm = Farm(open_ledger(data, url)).setup()
    extra = {"LEDGER_ANCHOR_INTERVAL": "0.2"} | ({"LEDGER_DATABASE_URL": url} if url else {})
    env = cli_env(data, anvil.url, **extra)
    chain = deploy(env, tmp_path, data, anvil.url)
    lot = farm.new_lot()
    workers = [Proc(["anchor-worker"], env, tmp_path, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        wait_until(lambda: all("active:" in w.text() or "standby:" in w.text() for w in workers), what="both workers")
        active = [w for w in workers if "active:" in w.text()]
        standby = [w for w in workers if "standby:" in w.text()]
        assert len(active) == 1 and len(standby) == 1
        for _ in range(3):
            farm.add(lot, 2)
            wait_until(lambda: chain.latest_tree_size() == farm.ledger.head().size, what="an anchor")
        assert "anchoring tree size" not in standby[0].text()
        active[0].stop(signal.SIGKILL)  # the standby takes over
        standby[0].wait_for("active:", timeout=15)
        farm.add(lot, 2)
        wait_until(lambda: chain.latest_tree_size() == farm.ledger.head().size, what="the standby's anchor")
        assert "anchoring tree size" in standby[0].text()
    finally:
        for w in workers:
            w.stop(signal.SIGTERM)
        farm.ledger.engine.dispose()
    sizes = Counter(e.tree_size for e in chain.anchored_events())
    assert all(n == 1 for n in sizes.values())
    deployer = load_deployments(data)["31337"]["deployer"]
    assert chain.nonce(deployer) == 1 + len(sizes)
