#!/usr/bin/env python3
"""Benchmark the heads map (issue 11, completeness): its cost at 10^5 subjects.

Before each anchor the worker recomputes the map of the whole log from the store
(``ledger.store.heads_map.heads_body``) under the log-head lock, so its cost is added to every
anchor and holds back writers for that long. This script fills a fresh SQLite database (or
PostgreSQL with ``--pg URL``) with N lots of E entries each plus shipments (synthetic rows through
SQLAlchemy Core: the map reads only indexed columns, leaf hashes and aggregation events; no
signatures are needed), then times:

  1. the grouped query for every subject's newest entry;
  2. the replay of the aggregation events into shipment members;
  3. hashing and the RFC 9162 root of the sorted map; and the whole ``heads_body``;
  4. building one map proof (what a bundle carries per chain).

    .venv/bin/python scripts/bench_heads.py                 # 10^5 lots
    .venv/bin/python scripts/bench_heads.py --lots 2000     # smoke run
    .venv/bin/python scripts/bench_heads.py --json

If the total grows beyond what an anchor interval affords, the known next step is an incremental
sparse Merkle tree (updated per append, O(log n) per subject); it is not built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_common import Figure, log, machine, print_table, temp_dir  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from ledger.core import canonical  # noqa: E402
from ledger.store import heads_map, migrate  # noqa: E402
from ledger.store.db import make_engine, read_tx  # noqa: E402
from ledger.store.models import LogEntry  # noqa: E402

_entry = LogEntry.__table__  # type: ignore[attr-defined]
URI = "https://id.gs1.org/00/"


def sscc(n: int) -> str:
    body = f"0893000000{n:07d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def rows(lots: int, per_lot: int, per_shipment: int) -> list[dict[str, object]]:
    """Synthetic log rows: each lot's entries, the last one packing it into a shipment."""
    now, out, idx = datetime.now(UTC), [], 0
    for lot in range(lots):
        lot_id = f"08930000045676.L{lot:07d}"
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


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lots", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=3, help="entries per lot (the last packs it)")
    ap.add_argument("--per-shipment", type=int, default=20)
    ap.add_argument("--pg", help="PostgreSQL URL of an empty database instead of a SQLite file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with temp_dir("ocop-bench-heads-") as tmp:
        engine = make_engine(args.pg or f"sqlite:///{tmp / 'heads.db'}")
        migrate.upgrade(engine)
        log(f"filling {args.lots:,} lots x {args.entries} entries")
        data = rows(args.lots, args.entries, args.per_shipment)
        with engine.begin() as conn:
            for start in range(0, len(data), 20_000):
                conn.execute(insert(_entry), data[start : start + 20_000])
        size = len(data)
        with read_tx(engine) as conn:
            subjects, t_subjects = timed(lambda: heads_map.subject_leaves(conn, size))
            ships, t_ships = timed(lambda: heads_map.shipment_leaves(conn, size))
            (body, m), t_total = timed(lambda: heads_map.heads_body(conn, size))
        _, t_proof = timed(lambda: m.proof(f"lot:08930000045676.L{args.lots // 2:07d}"))
        engine.dispose()
    n = len(subjects) + len(ships)
    figures = [
        Figure("heads map", f"newest entry of {len(subjects):,} subjects (grouped query)", t_subjects, "ms"),
        Figure("heads map", f"members of {len(ships):,} shipments (aggregation replay)", t_ships, "ms"),
        Figure("heads map", f"whole heads body, {n:,} leaves (queries + hashing + root)", t_total, "ms"),
        Figure("heads map", "one map proof", t_proof, "ms"),
    ]
    if args.json:
        print(
            json.dumps({"machine": machine(), "figures": [f.to_json() for f in figures], "map_size": body["map_size"]})
        )
    else:
        print_table(f"heads map at {n:,} subjects ({'PostgreSQL' if args.pg else 'SQLite'})", figures)


if __name__ == "__main__":
    main()
