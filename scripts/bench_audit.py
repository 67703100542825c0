"""Audit throughput: bulk-load N signed entries, then time ``ledger.audit.auditor.audit`` over them.

    python scripts/bench_audit.py --entries 100000            # SQLite in a temp folder
    python scripts/bench_audit.py --entries 1000000 --json
    python scripts/bench_audit.py --entries 100000 --db postgresql://postgres@127.0.0.1:5432/bench

The entries are real: Ed25519-signed statements chained per lot (1000 lots, round robin),
written with the store's own ``write_entries`` (leaves, subtree nodes, lot heads, log head) in
batches of 10,000, so the audit checks exactly what the append path would have stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.audit.auditor import audit  # noqa: E402
from ledger.core import canonical, merkle
from ledger.core.events import format_record_time  # noqa: E402
from ledger.core.records import OrganizationCreate, ProductCreate  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.store import log as store
from ledger.store import migrate
from ledger.store.db import make_engine, write_tx  # noqa: E402
from ledger.store.keys import KeyRing  # noqa: E402


def load(ledger: Ledger, n: int, lots: int, batch: int = 10_000) -> float:
    t0 = time.perf_counter()
    org = ledger.create_org(OrganizationCreate(name="HTX Bench", slug="htx-bench"))
    ledger.create_product("htx-bench", ProductCreate(gtin="08930000000019", name_vi="Cà phê"))
    ids = [ledger.create_lot("htx-bench", {"gtin": "08930000000019", "code": f"B-{i}"})["lot_id"] for i in range(lots)]
    heads: dict[str, tuple[int, str | None]] = {}
    with write_tx(ledger.engine) as conn:
        signer = ledger.keyring.active_signer(conn, org["id"])
        for lot in ids:
            last = store.lot_entries(conn, lot)[-1]
            heads[lot] = (int(last.seq), bytes(last.leaf_hash).hex())
    assert signer is not None
    now = datetime(2026, 8, 1, tzinfo=UTC)
    rt = format_record_time(now)
    done = ledger.head().size
    while done < n:
        with write_tx(ledger.engine) as conn:
            head = store.lock_head(conn)
            frontier = store.load_frontier(conn, head.size)
            entries = []
            for k in range(min(batch, n - done)):
                lot = ids[(done + k) % lots]
                seq, prev = heads[lot]
                event = {
                    "type": "ObjectEvent",
                    "action": "OBSERVE",
                    "bizStep": "storing",
                    "eventTime": "2026-07-02T06:30:00+07:00",
                    "eventTimeZoneOffset": "+07:00",
                    "recordTime": rt,
                    "readPoint": {"id": "urn:epc:id:sgln:8930000.00001.0", "name": "Kho"},
                }
                stmt = canonical.statement(lot=lot, seq=seq + 1, prev=prev, event=event, signer=signer.key_id)
                sig = signer.sign(canonical.statement_bytes(stmt))
                leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, sig)))
                entries.append(
                    store.NewEntry(
                        head.size + k,
                        lot,
                        seq + 1,
                        prev,
                        canonical.canonicalize(event).decode(),
                        event,
                        signer.key_id,
                        sig,
                        leaf,
                        now,
                    )  # fmt: skip
                )
                heads[lot] = (seq + 1, leaf.hex())
            store.write_entries(conn, head, frontier, entries)
            done = head.size + len(entries)
        print(f"\rloaded {done:,}/{n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--lots", type=int, default=1000)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temp folder)")
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='bench-audit-')}/ledger.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    ledger = Ledger(engine, KeyRing(bytes(range(32))))
    load_s = load(ledger, args.entries, args.lots)
    report = audit(
        engine, chunk=args.chunk, progress=lambda d, t: print(f"\raudited {d:,}/{t:,}", end="", file=sys.stderr)
    )
    print(file=sys.stderr)
    out = {
        "database": engine.dialect.name,
        "entries": report.entries,
        "lots": report.lots,
        "load_seconds": round(load_s, 1),
        "audit_seconds": round(report.seconds, 1),
        "audit_entries_per_second": round(report.entries / report.seconds),
        "findings": len(report.findings),
    }
    print(json.dumps(out) if args.json else "\n".join(f"{k:>26}: {v}" for k, v in out.items()))
    sys.exit(1 if report.findings else 0)


if __name__ == "__main__":
    main()
