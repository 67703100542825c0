"""The anchor worker on the in-process EVM: triggers, crash recovery, reconciliation with the chain."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select, update

from ledger.chain import worker as anchoring
from ledger.chain.client import ChainClient
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.errors import AnchorError
from ledger.store.db import read_tx, write_tx
from ledger.store.models import Anchor, LogEntry
from tests.chain.support import Farm, send_value

pytestmark = pytest.mark.chain
_anchor = Anchor.__table__  # type: ignore[attr-defined]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Crash(Exception):
    """Stands in for SIGKILL at a fault point."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_worker(farm: Farm, chain: ChainClient, clock: FakeClock, **cfg: Any) -> AnchorWorker:
    config = WorkerConfig(**{"interval": 10.0, "batch": 1000, "receipt_wait": 2.0, **cfg})
    return AnchorWorker(farm.ledger.engine, chain, config, clock=clock)


def rows(farm: Farm) -> list[dict[str, Any]]:
    with read_tx(farm.ledger.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(select(_anchor).order_by(_anchor.c.id))]


def sizes_on_chain(chain: ChainClient) -> list[int]:
    return [e.tree_size for e in chain.anchored_events()]


def sent_txs(chain: ChainClient) -> int:
    """Transactions the anchoring account sent after deploying (a wasted or duplicate send shows here)."""
    assert chain.sender is not None
    return chain.nonce(chain.sender) - 1


def test_tick_anchors_the_head_once(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    lot = farm.new_lot()
    farm.add(lot, 3)
    worker = make_worker(farm, tester_chain, clock)
    assert worker.tick() == "anchored"
    head = farm.ledger.head()
    assert tester_chain.latest_tree_size() == head.size == 4
    assert tester_chain.root_at(4) == head.root
    [row] = rows(farm)
    assert row["status"] == "confirmed" and row["tree_size"] == 4 and bytes(row["root"]) == head.root
    assert row["block_number"] and row["block_time"] and 40_000 < row["gas_used"] < 100_000
    assert worker.tick() == "idle" and worker.tick(force=True) == "idle"
    assert sizes_on_chain(tester_chain) == [4] and sent_txs(tester_chain) == 1


def test_nothing_is_sent_when_nothing_is_new(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    worker = make_worker(farm, tester_chain, clock)
    assert worker.tick(force=True) == "idle"
    assert rows(farm) == [] and sent_txs(tester_chain) == 0


def test_interval_trigger(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    worker = make_worker(farm, tester_chain, clock, interval=10.0)
    lot = farm.new_lot()
    assert worker.tick() == "anchored"  # the first anchor goes at once
    farm.add(lot, 2)
    clock.t += 9.0
    assert worker.tick() == "waiting"
    clock.t += 1.0
    assert worker.tick() == "anchored"
    assert sizes_on_chain(tester_chain) == [1, 3]


def test_batch_trigger(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    worker = make_worker(farm, tester_chain, clock, interval=3600.0, batch=5)
    lot = farm.new_lot()
    assert worker.tick() == "anchored"
    farm.add(lot, 4)
    assert worker.tick() == "waiting"
    farm.add(lot, 1)
    assert worker.tick() == "anchored"
    assert sizes_on_chain(tester_chain) == [1, 6]


@pytest.mark.parametrize("point", anchoring.FAULT_POINTS)
def test_crash_at_any_point_anchors_exactly_once(
    point: str, farm: Farm, tester_chain: ChainClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash_at(where: str) -> None:
        if where == point:
            raise Crash(where)

    lot = farm.new_lot()
    farm.add(lot, 2)
    monkeypatch.setattr(anchoring, "fault", crash_at)
    with pytest.raises(Crash):
        make_worker(farm, tester_chain, clock).tick()
    monkeypatch.undo()
    assert rows(farm)[0]["status"] in ("intent", "sent")
    restarted = make_worker(farm, tester_chain, clock)
    restarted.tick()
    assert restarted.tick(force=True) == "idle"
    [row] = rows(farm)
    assert row["status"] == "confirmed" and row["block_number"] is not None
    assert sizes_on_chain(tester_chain) == [3] and sent_txs(tester_chain) == 1


def crash_after_intent(monkeypatch: pytest.MonkeyPatch, worker: AnchorWorker) -> None:
    def crash_at(where: str) -> None:
        if where == "after_intent":
            raise Crash(where)

    monkeypatch.setattr(anchoring, "fault", crash_at)
    with pytest.raises(Crash):
        worker.tick()
    monkeypatch.undo()


def test_a_different_root_on_chain_is_marked_failed(
    farm: Farm, tester_chain: ChainClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock)
    crash_after_intent(monkeypatch, worker)
    tester_chain.wait_receipt(tester_chain.send_anchor(b"\x77" * 32, 2))  # someone else anchors size 2 first
    with caplog.at_level(logging.ERROR, logger="ledger.chain.worker"):
        worker.reconcile()
    [row] = rows(farm)
    assert row["status"] == "failed" and "fork or tampering" in row["error"]
    assert "ANCHOR MISMATCH" in caplog.text


def test_an_anchor_overtaken_by_a_larger_one_is_superseded(
    farm: Farm, tester_chain: ChainClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock)
    crash_after_intent(monkeypatch, worker)
    tester_chain.wait_receipt(tester_chain.send_anchor(b"\x77" * 32, 50))
    assert worker.tick() == "behind"  # the chain has more than the local log: never anchor backwards
    assert rows(farm)[0]["status"] == "superseded"


def test_a_lost_nonce_is_re_signed(
    farm: Farm, tester_chain: ChainClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock)
    crash_after_intent(monkeypatch, worker)
    [intent] = rows(farm)
    account, w3 = tester_chain.account, tester_chain.w3
    assert account is not None
    other = {"to": account.address, "value": 0, "gas": 21000, "nonce": intent["nonce"], "chainId": w3.eth.chain_id}
    other |= tester_chain.fees()
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(account.sign_transaction(other).raw_transaction))
    worker.tick()
    worker.reconcile()
    [row] = rows(farm)
    assert row["status"] == "confirmed" and row["tx_hash"] != intent["tx_hash"] and row["nonce"] == intent["nonce"] + 1
    assert sizes_on_chain(tester_chain) == [2]


def test_confirmations_are_waited_for(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock, confirmations=2)
    assert worker.tick() == "anchored"
    assert rows(farm)[0]["status"] == "sent"
    assert worker.tick() == "in_flight"
    tester_chain.w3.provider.ethereum_tester.mine_blocks(2)  # type: ignore[attr-defined]
    worker.reconcile()
    assert rows(farm)[0]["status"] == "confirmed"


def test_an_anchor_lost_by_a_chain_reset_is_anchored_again(
    farm: Farm, tester_chain: ChainClient, clock: FakeClock
) -> None:
    tester = tester_chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock)
    worker.tick()
    tester.revert_to_snapshot(snapshot)  # the chain forgets the anchor (a reset devchain, a deep reorg)
    assert tester_chain.latest_tree_size() == 0
    clock.t += 60
    assert worker.tick() == "anchored"
    [row] = rows(farm)
    assert row["status"] == "confirmed" and tester_chain.latest_tree_size() == 2


def test_refuses_to_anchor_a_rewritten_log(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    lot = farm.new_lot()
    worker = make_worker(farm, tester_chain, clock)
    worker.tick()
    entry = LogEntry.__table__  # type: ignore[attr-defined]
    with write_tx(farm.ledger.engine) as conn:
        conn.execute(update(entry).where(entry.c.idx == 0).values(leaf_hash=b"\x66" * 32))
    farm.add(lot, 1)
    clock.t += 60
    with pytest.raises(AnchorError, match="does not extend the chain's anchor at size 1"):
        worker.tick()
    assert tester_chain.latest_tree_size() == 1


def test_not_anchorer_is_refused_before_sending(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    w3 = tester_chain.w3
    stranger = Account.create()
    send_value(w3, 1, stranger.address, 10**18)
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, ChainClient(w3, tester_chain.address, stranger), clock)
    with pytest.raises(AnchorError, match="NotAnchorer"):
        worker.tick()
    assert rows(farm) == [] and w3.eth.get_transaction_count(stranger.address) == 0


class CountingStop(threading.Event):
    """A stop event that records the pauses asked for and ends the loop after ``n`` of them."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.pauses = n, []  # type: ignore[var-annotated]

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.n:
            self.set()
        return self.is_set()


def test_rpc_failures_back_off_exponentially_and_bounded(
    farm: Farm, tester_chain: ChainClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def down() -> int:
        raise AnchorError("reading latestTreeSize() failed: ConnectionError: [Errno 111] Connection refused")

    monkeypatch.setattr(tester_chain, "latest_tree_size", down)
    stop = CountingStop(6)
    with caplog.at_level(logging.WARNING, logger="ledger.chain.worker"):
        make_worker(farm, tester_chain, clock, retry_max=8.0).run(stop)
    assert stop.pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert "retrying in 8 s: reading latestTreeSize() failed" in caplog.text


def test_a_transaction_reorged_out_is_sent_again(farm: Farm, tester_chain: ChainClient, clock: FakeClock) -> None:
    tester = tester_chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    farm.add(farm.new_lot(), 1)
    worker = make_worker(farm, tester_chain, clock, confirmations=3)
    snapshot = tester.take_snapshot()
    assert worker.tick() == "anchored"
    [sent] = rows(farm)
    assert sent["status"] == "sent" and tester_chain.latest_tree_size() == 2
    tester.revert_to_snapshot(snapshot)  # the block with our anchor is reorged out, the tx is gone
    assert tester_chain.receipt(sent["tx_hash"]) is None and not tester_chain.is_known(sent["tx_hash"])
    worker.reconcile()  # not on chain, unknown to the node, nonce unused: the same signed bytes again
    assert tester_chain.receipt(sent["tx_hash"]) is not None
    tester.mine_blocks(3)
    worker.reconcile()
    [row] = rows(farm)
    assert row["status"] == "confirmed" and row["tx_hash"] == sent["tx_hash"]
    assert sizes_on_chain(tester_chain) == [2]
