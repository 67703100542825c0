"""The incremental heads map (``heads_map.MapCache``) equals the from-scratch map, on SQLite and PostgreSQL.

Random logs are written as raw rows (the map reads only the indexed columns, the leaf hashes and the
aggregation events), grown in steps with ``heads`` entries among them; at every step a cache carried
along, a cache started late and the from-scratch queries must give the same body. Then the real
ledger: the heads entries appended through the cache are those a from-scratch computation gives.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert

from ledger.core import canonical, heads, statements
from ledger.errors import ConflictError, InputError
from ledger.service import Ledger
from ledger.store import heads_map, shipments
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry, LogHead
from tests.exports.scenario import _ev, build

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_head = LogHead.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def sscc(n: int) -> str:
    body = f"0893000000{n:07d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


class RandomLog:
    """Raw log rows: lots, v2 subjects, packings and unpackings of a few shipments, heads entries."""

    def __init__(self, engine: Engine, seed: int) -> None:
        self.engine, self.rng, self.size = engine, random.Random(seed), 0
        self.seqs: dict[str, int] = {}
        self.last_heads: int | None = None

    def row(self, subject: str, event_type: str, event: dict[str, Any]) -> dict[str, Any]:
        seq = self.seqs.get(subject, -1) + 1
        self.seqs[subject] = seq
        leaf = hashlib.sha256(f"{subject}/{seq}/{self.size}".encode()).digest()
        row = {
            "idx": self.size, "lot_id": subject, "seq": seq, "prev": None,
            "event": canonical.canonicalize(event).decode(), "event_type": event_type, "biz_step": "storing",
            "event_time": "2026-07-01T00:00:00Z", "signer": "ed25519:" + "0" * 64, "sig": "x",
            "leaf_hash": leaf, "recorded_at": NOW,
        }  # fmt: skip
        self.size += 1
        return row

    def random_row(self) -> dict[str, Any]:
        r = self.rng.random()
        lot = f"0893000004567{self.rng.randrange(3)}.L{self.rng.randrange(60):03d}"
        if r < 0.15:
            return self.row(f"{self.rng.choice(['org', 'product', 'attestation'])}:s{self.rng.randrange(8)}", "org", {})
        if r < 0.4:
            action = self.rng.choice(["ADD", "ADD", "DELETE", "OBSERVE"])
            parent = "https://id.gs1.org/00/" + sscc(self.rng.randrange(5))
            return self.row(lot, "AggregationEvent", {"type": "AggregationEvent", "action": action, "parentID": parent})
        return self.row(lot, "ObjectEvent", {"type": "ObjectEvent", "action": "OBSERVE"})

    def grow(self, n: int, *, with_heads: bool) -> None:
        rows = [self.random_row() for _ in range(n)]
        with write_tx(self.engine) as conn:
            if with_heads:  # the body the from-scratch queries give (written as the worker would)
                conn.execute(insert(_entry), rows)
                body, _ = heads_map.heads_body(conn, self.size)
                rows = [self.row(statements.HEADS_SUBJECT, "heads", body)]
                self.last_heads = self.size - 1
            conn.execute(insert(_entry), rows)
            conn.execute(_head.update().where(_head.c.id == 1).values(size=self.size))


def scratch_body(engine: Engine, size: int) -> dict[str, Any]:
    with read_tx(engine) as conn:
        return heads_map.heads_body(conn, size)[0]


def test_cache_equals_the_map_from_scratch_on_random_logs(engine: Engine) -> None:
    for seed in range(4):
        with write_tx(engine) as conn:
            conn.execute(delete(_entry))
        log = RandomLog(engine, seed)
        carried, late = heads_map.MapCache(), heads_map.MapCache()
        for step in range(12):
            log.grow(log.rng.randrange(1, 60), with_heads=step % 3 != 2)
            want = scratch_body(engine, log.size)
            with read_tx(engine) as conn:
                assert carried.advance(conn, log.size).body() == want, (seed, step)
                if step >= 6:
                    assert late.advance(conn, log.size).body() == want, (seed, step)
        assert carried.rebuilds == late.rebuilds == 1  # every heads entry passed agreed with the cache
        assert want["map_size"] > 60 and log.last_heads is not None


def test_cache_rebuilds_when_a_heads_entry_disagrees_or_the_log_is_shorter(engine: Engine) -> None:
    log = RandomLog(engine, 7)
    log.grow(40, with_heads=False)
    cache = heads_map.MapCache()
    with read_tx(engine) as conn:
        cache.advance(conn, log.size)
    wrong = heads.heads_body(log.size, bytes(32), 3, None)  # a heads entry that does not match the log
    with write_tx(engine) as conn:
        conn.execute(insert(_entry), [log.row(statements.HEADS_SUBJECT, "heads", wrong)])
    log.grow(5, with_heads=False)
    with read_tx(engine) as conn:
        st = cache.advance(conn, log.size)
    assert cache.rebuilds == 2 and st.body() == scratch_body(engine, log.size)
    assert st.last_heads == 40
    with read_tx(engine) as conn:
        st = cache.advance(conn, 20)  # a log restored from an older backup
    assert cache.rebuilds == 3 and st.body() == scratch_body(engine, 20)


def test_heads_entries_appended_through_the_cache_equal_the_map_from_scratch(v2_ledger: Ledger) -> None:
    ledger = v2_ledger
    scene = build(ledger)
    cache = heads_map.MapCache()
    appended = []
    for step in range(3):
        if step == 1:
            shipments.unpack(ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-10T09:00:00+07:00")
        if step:
            event = _ev("storing", f"2026-07-1{step}T10:00:00+07:00", scene.frozen, 500)
            ledger.record("cty-dong-lanh", [{"lot": scene.frozen, "event": event}])
        cache.catch_up(ledger.engine)
        if step == 2:  # appended between the catch-up and the lock: applied under the lock
            event = _ev("storing", "2026-07-15T10:00:00+07:00", scene.raw1, 700)
            ledger.record("htx-cai-mon", [{"lot": scene.raw1, "event": event}])
        with write_tx(ledger.engine) as conn:
            head = heads_map.append_heads(conn, ledger.keyring.log_signer(conn), ledger.clock(), cache)
        appended.append(head.size - 1)
    with read_tx(ledger.engine) as conn:
        entries = heads_map.heads_entries(conn)
        assert [i for i, _ in entries] == appended
        for idx, body in entries:
            assert body == heads_map.heads_body(conn, idx)[0]
    assert cache.rebuilds == 1
    shipment = cache.state.leaves[heads.sscc_key(scene.sscc)] if cache.state else {}
    assert shipment["members"] == []


@pytest.mark.parametrize("size", [0, 1])
def test_an_empty_or_tiny_log_has_the_empty_map(engine: Engine, size: int) -> None:
    log = RandomLog(engine, 3)
    if size:
        log.grow(size, with_heads=False)
    with read_tx(engine) as conn:
        assert heads_map.MapCache().advance(conn, log.size).body() == scratch_body(engine, log.size)


def test_bundle_proofs_come_from_a_map_carried_forward_and_equal_those_from_scratch(v2_ledger: Ledger) -> None:
    ledger = v2_ledger
    scene = build(ledger)
    keys = [f"lot:{scene.frozen}", f"lot:{scene.raw1}", heads.sscc_key(scene.sscc)]

    def heads_entry() -> tuple[int, str]:
        with write_tx(ledger.engine) as conn:
            h = heads_map.append_heads(conn, ledger.keyring.log_signer(conn), ledger.clock()).size - 1
        with read_tx(ledger.engine) as conn:
            return h, dict(heads_map.heads_entries(conn))[h]["map_root"]

    def served_and_scratch(h: int, root: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with read_tx(ledger.engine) as conn:
            m = heads_map.heads_map(conn, h)
            return heads_map.committed_proofs(conn, h, root, keys), [m.proof(k) for k in keys]

    first = heads_entry()
    served, want = served_and_scratch(*first)
    assert served == want
    shipments.unpack(ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-12T09:00:00+07:00")
    second = heads_entry()
    served, want = served_and_scratch(*second)  # brought forward from the first
    assert served == want and served[2]["leaf"]["members"] == []
    assert served_and_scratch(*first)[0] == served_and_scratch(*first)[1]  # an older heads entry: from scratch
    with read_tx(ledger.engine) as conn, pytest.raises(ConflictError, match="no longer gives the heads map"):
        heads_map.committed_proofs(conn, second[0], "00" * 32, keys)
    with read_tx(ledger.engine) as conn, pytest.raises(InputError, match="no leaf for lot:nope"):
        heads_map.committed_proofs(conn, second[0], second[1], ["lot:nope"])
