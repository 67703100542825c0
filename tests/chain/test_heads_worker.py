"""The anchor worker commits the heads map (issue 11, completeness) before each anchor, on the in-process EVM.

With the log key (``heads_signer``) every anchor first appends one ``heads`` entry at index ``h``,
signed by the log key, whose body commits to the map of ``[0, h)``; the contract then holds the root
of exactly ``h + 1`` entries.
"""

from __future__ import annotations

import pytest

from ledger.audit.auditor import audit
from ledger.chain.client import ChainClient
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.core import statements
from ledger.store import heads_map, v2log
from ledger.store import log as store
from ledger.store.db import read_tx, write_tx
from tests.chain.support import Farm

pytestmark = pytest.mark.chain


def worker_for(farm: Farm, chain: ChainClient) -> AnchorWorker:
    return AnchorWorker(
        farm.ledger.engine, chain, WorkerConfig(receipt_wait=2.0), heads_signer=farm.ledger.keyring.log_signer
    )


def test_each_anchor_commits_the_heads_map_signed_by_the_log_key(farm: Farm, tester_chain: ChainClient) -> None:
    lot = farm.new_lot()
    farm.add(lot, 2)
    h = farm.ledger.head().size
    worker = worker_for(farm, tester_chain)
    assert worker.tick(force=True) == "anchored"
    head = farm.ledger.head()
    assert head.size == h + 1 == tester_chain.latest_tree_size() and tester_chain.root_at(h + 1) == head.root
    with read_tx(farm.ledger.engine) as conn:
        [(index, body)] = heads_map.heads_entries(conn)
        m = heads_map.heads_map(conn, h)
        [row] = store.entries_range(conn, h, h + 1)
        log_key = v2log.log_public_key(conn)
        lot_row = store.lot_entries(conn, lot)[-1]
    assert index == h and body == {"size": h, "map_root": m.root.hex(), "map_size": m.size, "prev_heads": None}
    assert log_key is not None and row.signer == log_key[0]
    assert statements.verify_entry(v2log.entry_of(row), log_key[1])["subject"] == "heads:log"
    leaf = m.proof(f"lot:{lot}")["leaf"]
    assert (leaf["seq"], leaf["head"], leaf["index"]) == (2, bytes(lot_row.leaf_hash).hex(), lot_row.idx)
    assert worker.tick(force=True) == "idle"  # nothing new: no second heads entry, nothing sent
    farm.add(lot, 1)
    assert worker.tick(force=True) == "anchored"
    with read_tx(farm.ledger.engine) as conn:
        entries = heads_map.heads_entries(conn)
    assert [i for i, _ in entries] == [h, h + 2] and entries[1][1]["prev_heads"] == h
    assert tester_chain.latest_tree_size() == h + 3 == farm.ledger.head().size
    report = audit(farm.ledger.engine, chain=tester_chain)  # the full-log audit accepts the heads entries
    assert report.findings == [], report.findings


def test_a_heads_entry_left_by_a_stopped_worker_is_anchored_not_repeated(farm: Farm, tester_chain: ChainClient) -> None:
    farm.add(farm.new_lot(), 1)
    with write_tx(farm.ledger.engine) as conn:  # the worker appended its heads entry, then stopped
        first = heads_map.append_heads(conn, farm.ledger.keyring.log_signer(conn), farm.ledger.clock())
    assert worker_for(farm, tester_chain).tick(force=True) == "anchored"
    assert tester_chain.latest_tree_size() == first.size == farm.ledger.head().size
    with read_tx(farm.ledger.engine) as conn:
        assert len(heads_map.heads_entries(conn)) == 1


def test_without_the_log_key_the_worker_anchors_as_before(farm: Farm, tester_chain: ChainClient) -> None:
    farm.add(farm.new_lot(), 1)
    size = farm.ledger.head().size
    assert AnchorWorker(farm.ledger.engine, tester_chain, WorkerConfig(receipt_wait=2.0)).tick(force=True) == "anchored"
    assert tester_chain.latest_tree_size() == size


def test_two_workers_keep_their_maps_and_each_checks_the_heads_entries_of_the_other(
    farm: Farm, tester_chain: ChainClient
) -> None:
    """Two worker processes take turns (the lock orders their appends); a restarted one rebuilds its map."""
    first, second = worker_for(farm, tester_chain), worker_for(farm, tester_chain)
    lots = [farm.new_lot() for _ in range(3)]
    for turn in range(6):
        farm.add(lots[turn % 3], 2)
        if turn == 2:
            farm.new_lot()
        assert (first if turn % 2 == 0 else second).tick(force=True) == "anchored"
    restarted = worker_for(farm, tester_chain)
    farm.add(lots[0], 1)
    assert restarted.tick(force=True) == "anchored"
    with read_tx(farm.ledger.engine) as conn:
        entries = heads_map.heads_entries(conn)
        assert len(entries) == 7
        for index, body in entries:  # each equals the map computed from scratch at its index
            assert body == heads_map.heads_body(conn, index)[0]
    # one from-scratch build each; every later anchor only read the entries since its previous one
    assert (first.heads_cache.rebuilds, second.heads_cache.rebuilds, restarted.heads_cache.rebuilds) == (1, 1, 1)
    assert audit(farm.ledger.engine, chain=tester_chain).findings == []
