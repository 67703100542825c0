#!/usr/bin/env python3
"""Benchmark the heads map (issue 11, completeness): the time the anchor worker holds the log-head lock.

Before each anchor the worker appends a ``heads`` entry committing the map of the whole log, under the
log-head lock, which blocks every writer (the sequencer included) for that long. This script fills a
fresh SQLite database (or PostgreSQL with ``--pg URL``) with N lots of E entries each plus shipments
(synthetic rows through SQLAlchemy Core: the map reads only indexed columns, leaf hashes and
aggregation events; no signatures are needed), then measures:

  1. the old path: the map from scratch (grouped query, aggregation replay, hashing, root) under the lock;
  2. the worker's cache built from scratch after a restart (outside the lock);
  3. for ``--rounds`` anchors, each after ``--delta`` new entries (events on existing lots, new lots,
     packings): the catch-up outside the lock, then the time under the lock to apply the ``--meanwhile``
     entries appended during the catch-up and compute the heads body (``append_heads`` with the cache,
     less the append of the one entry, which costs what any append costs);
  4. the audit's share: the map kept over the whole log in one pass, with a root every ``--delta``
     entries (what checking a heads entry after each anchor costs);
  5. map proofs: one from scratch (``HeadsMap.proof``), and 20 for a bundle at each anchor from the
     served map carried forward (``committed_proofs``). The last round's body is checked against the
     from-scratch computation.

    .venv/bin/python scripts/bench_heads.py                 # 10^5 lots, 1,000 entries per anchor
    .venv/bin/python scripts/bench_heads.py --lots 2000     # smoke run
    .venv/bin/python scripts/bench_heads.py --pg postgresql://postgres@127.0.0.1:5432/bench --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_common import Figure, log, machine, print_table, temp_dir  # noqa: E402
from sqlalchemy import Engine, insert, update  # noqa: E402

from ledger.core import canonical, statements  # noqa: E402
from ledger.core.heads_state import MapState  # noqa: E402
from ledger.store import heads_map, migrate  # noqa: E402
from ledger.store import log as store  # noqa: E402
from ledger.store.db import make_engine, read_tx, write_tx  # noqa: E402
from ledger.store.models import LogEntry, LogHead  # noqa: E402

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_head = LogHead.__table__  # type: ignore[attr-defined]
URI = "https://id.gs1.org/00/"


def sscc(n: int) -> str:
    body = f"0893000000{n:07d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def lot_name(n: int) -> str:
    """Lot ``n``: its product (GTIN) is spread pseudo-randomly, so keys do not arrive in sorted order."""
    return f"0893{n * 2654435761 % 10**10:010d}.L{n:07d}"


def rows(lots: int, per_lot: int, per_shipment: int) -> list[dict[str, object]]:
    """Synthetic log rows: each lot's entries, the last one packing it into a shipment."""
    now, out, idx = datetime.now(UTC), [], 0
    for lot in range(lots):
        lot_id = lot_name(lot)
        for seq in range(per_lot):
            packing = seq == per_lot - 1
            event = (
                {
                    "type": "AggregationEvent",
                    "action": "ADD",
                    "parentID": "https://id.gs1.org/00/" + sscc(lot // per_shipment),
                }
                if packing
                else {"type": "ObjectEvent", "action": "OBSERVE"}
            )
            leaf = hashlib.sha256(f"{lot_id}/{seq}".encode()).digest()
            out.append(
                {
                    "idx": idx, "lot_id": lot_id, "seq": seq, "prev": None,
                    "event": canonical.canonicalize(event).decode(),
                    "event_type": event["type"], "biz_step": "packing" if packing else "storing",
                    "event_time": "2026-07-01T00:00:00Z", "signer": "ed25519:" + "0" * 64, "sig": "x",
                    "leaf_hash": leaf, "recorded_at": now,
                }
            )  # fmt: skip
            idx += 1
    return out


def new_rows(start: int, count: int, lots: int, rng: random.Random, seqs: dict[str, int]) -> list[dict[str, object]]:
    """``count`` entries from index ``start``: 80% events on existing lots, 15% new lots (of random
    products, so their keys fall anywhere in the sorted map), 5% packings."""
    now, out = datetime.now(UTC), []
    for idx in range(start, start + count):
        r = rng.random()
        # a new lot of another product sorts anywhere among the keys: the map nodes after it are re-hashed
        new = f"089300{rng.randrange(10**8):08d}.N{idx:07d}"
        lot_id = new if r < 0.15 else lot_name(rng.randrange(lots))
        seq = seqs.get(lot_id, 2 if ".L" in lot_id else -1) + 1
        seqs[lot_id] = seq
        event = (
            {
                "type": "AggregationEvent",
                "action": rng.choice(["ADD", "DELETE"]),
                "parentID": URI + sscc(rng.randrange(lots // 20 + 1)),
            }
            if r > 0.95
            else {"type": "ObjectEvent", "action": "OBSERVE"}
        )
        out.append(
            {
                "idx": idx, "lot_id": lot_id, "seq": seq, "prev": None,
                "event": canonical.canonicalize(event).decode(), "event_type": event["type"], "biz_step": "storing",
                "event_time": "2026-07-01T00:00:00Z", "signer": "ed25519:" + "0" * 64, "sig": "x",
                "leaf_hash": hashlib.sha256(f"{lot_id}/{seq}/{idx}".encode()).digest(), "recorded_at": now,
            }
        )  # fmt: skip
    return out


def heads_row(idx: int, body: dict[str, object]) -> dict[str, object]:
    """The heads entry the worker appends (unsigned here: the map does not read signatures)."""
    return {
        "idx": idx, "lot_id": statements.HEADS_SUBJECT, "seq": idx, "prev": None,
        "event": canonical.canonicalize(body).decode(), "event_type": "heads", "biz_step": "heads",
        "event_time": "2026-07-01T00:00:00Z", "signer": "ed25519:" + "0" * 64, "sig": "x",
        "leaf_hash": hashlib.sha256(f"heads/{idx}".encode()).digest(), "recorded_at": datetime.now(UTC),
    }  # fmt: skip


def write(engine: Engine, data: list[dict[str, object]], size: int) -> None:
    with engine.begin() as conn:
        for start in range(0, len(data), 20_000):
            conn.execute(insert(_entry), data[start : start + 20_000])
        conn.execute(update(_head).where(_head.c.id == 1).values(size=size))


def locked_body(engine: Engine, cache: heads_map.MapCache) -> dict[str, object]:
    """What ``append_heads`` does under the lock, up to the append: lock, check, apply the delta, the body."""
    with write_tx(engine) as conn:
        head = store.lock_head(conn)
        assert heads_map.previous_heads(conn, head.size) != head.size - 1
        return cache.advance(conn, head.size).body()


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def audit_pass(engine: Engine, size: int, every: int) -> float:
    """The audit's share (``heads_map`` check): the map kept over the whole log in one pass, every heads
    entry checked, and a root every ``every`` entries as if each were followed by a heads entry."""
    started = time.perf_counter()
    with read_tx(engine) as conn:
        st = MapState()
        for op in heads_map.ops(conn, 0, size):
            if op.subject == statements.HEADS_SUBJECT:
                assert heads_map.heads_difference(st, op) is None
            heads_map.apply_op(st, op)
            if op.idx % every == every - 1:
                st.root()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lots", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=3, help="entries per lot (the last packs it)")
    ap.add_argument("--per-shipment", type=int, default=20)
    ap.add_argument("--delta", type=int, default=1000, help="new entries since the previous anchor")
    ap.add_argument("--meanwhile", type=int, default=20, help="entries appended during the catch-up")
    ap.add_argument("--rounds", type=int, default=5, help="anchors measured")
    ap.add_argument("--pg", help="PostgreSQL URL of an empty database instead of a SQLite file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng, seqs = random.Random(11), {}
    with temp_dir("ocop-bench-heads-") as tmp:
        engine = make_engine(args.pg or f"sqlite:///{tmp / 'heads.db'}")
        migrate.upgrade(engine)
        log(f"filling {args.lots:,} lots x {args.entries} entries")
        data = rows(args.lots, args.entries, args.per_shipment)
        size = len(data)
        write(engine, data, size)
        with read_tx(engine) as conn:
            subjects, t_subjects = timed(lambda: heads_map.subject_leaves(conn, size))
            ships, t_ships = timed(lambda: heads_map.shipment_leaves(conn, size))
        with write_tx(engine) as conn:  # the old path: all of it under the lock
            (body, m), t_old = timed(lambda: (store.lock_head(conn), heads_map.heads_body(conn, size))[1])
        _, t_proof = timed(lambda: m.proof(f"lot:{lot_name(args.lots // 2)}"))
        cache = heads_map.MapCache()
        _, t_cold = timed(lambda: cache.catch_up(engine))  # a worker (re)started: outside the lock
        body = locked_body(engine, cache)
        write(engine, [heads_row(size, body)], size + 1)
        size += 1
        t_catch, t_locked = [], []
        t_bundle: list[float] = []
        keys = [f"lot:{lot_name(rng.randrange(args.lots))}" for _ in range(20)]
        for r in range(args.rounds):
            log(f"anchor {r + 1}: {args.delta:,} new entries")
            write(engine, new_rows(size, args.delta, args.lots, rng, seqs), size + args.delta)
            size += args.delta
            t_catch.append(timed(lambda: cache.catch_up(engine))[1])
            write(engine, new_rows(size, args.meanwhile, args.lots, rng, seqs), size + args.meanwhile)
            size += args.meanwhile
            body, t = timed(lambda: locked_body(engine, cache))
            t_locked.append(t)
            write(engine, [heads_row(size, body)], size + 1)
            size += 1
            with read_tx(engine) as conn:  # a bundle at this anchor: the served map brought forward, 20 proofs
                at, root = size - 1, str(body["map_root"])
                t_bundle.append(timed(lambda: heads_map.committed_proofs(conn, at, root, keys))[1])  # noqa: B023
        with read_tx(engine) as conn:
            want = heads_map.heads_body(conn, size - 1)[0]
        assert body == want, "the incremental map differs from the map from scratch"
        assert cache.rebuilds == 1, "a heads entry disagreed with the cache"
        t_audit = audit_pass(engine, size, args.delta)
        engine.dispose()
    n = len(subjects) + len(ships)
    d, w = f"{args.delta:,}", f"{args.meanwhile:,}"
    figures = [
        Figure("from scratch", f"newest entry of {len(subjects):,} subjects (grouped query)", t_subjects, "ms"),
        Figure("from scratch", f"members of {len(ships):,} shipments (aggregation replay)", t_ships, "ms"),
        Figure("from scratch", f"old path: lock held for the whole map, {n:,} leaves", t_old, "ms"),
        Figure("incremental", "worker (re)start: cache from scratch, outside the lock", t_cold, "ms"),
        Figure("incremental", f"catch-up of {d} new entries, outside the lock (median)",
               statistics.median(t_catch), "ms"),
        Figure("incremental", f"lock held: {w} entries + heads body (median)", statistics.median(t_locked), "ms"),
        Figure("incremental", f"lock held: {w} entries + heads body (max of {args.rounds})", max(t_locked), "ms"),
        Figure("incremental", "per anchor in total (catch-up + lock, median)", statistics.median(
            [a + b for a, b in zip(t_catch, t_locked, strict=True)]), "ms"),
        Figure("audit", f"heads map over all {size:,} entries, a root every {d} (entries/s)",
               size / t_audit * 1000, "/s"),
        Figure("proofs", "one map proof from scratch (HeadsMap.proof)", t_proof, "ms"),
        Figure("proofs", "bundle: served map at the first anchor (from scratch) + 20 proofs", t_bundle[0], "ms"),
        Figure("proofs", f"bundle: served map brought forward {d} entries + 20 proofs (median)",
               statistics.median(t_bundle[1:] or t_bundle), "ms"),
    ]  # fmt: skip
    if args.json:
        out = {"machine": machine(), "figures": [f.to_json() for f in figures], "map_size": want["map_size"]}
        print(json.dumps(out))
    else:
        title = f"heads map at {n:,} subjects, {d} entries per anchor ({'PostgreSQL' if args.pg else 'SQLite'})"
        print_table(title, figures)


if __name__ == "__main__":
    main()
