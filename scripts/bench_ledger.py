#!/usr/bin/env python3
"""Benchmark the ledger core (issue 2, "Benchmark").

Figures and targets (2-core machine):
  1. signed events appended per second, batches of 1000, through ``Ledger.record`` with
     server-held keys (validate → canonicalize → link → sign → index → store), on SQLite (WAL,
     temp file) and PostgreSQL (a temporary database): ≥ 8,000/s and ≥ 5,000/s;
  2. Merkle append+root, ``merkle.Frontier`` and ``merkle.root``: ≥ 400,000 leaves/s;
  3. inclusion-proof time from the store (``store.inclusion_proof``) at 10^3 and 10^6 entries on
     SQLite: at 10^6 under 1 ms and within 2x of 10^3. These logs are bulk-loaded (synthetic
     leaves written straight into ``log_entry``/``tree_node``), not signed one by one.

    .venv/bin/python scripts/bench_ledger.py            # full run
    .venv/bin/python scripts/bench_ledger.py --quick    # smoke run for CI
    .venv/bin/python scripts/bench_ledger.py --json --no-pg

Temporary files and databases are removed on exit. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_common import (  # noqa: E402
    PRODUCTS,
    Figure,
    Skip,
    log,
    machine,
    make_batches,
    percentile,
    print_table,
    temp_dir,
    temp_pg_database,
)

from ledger.core import merkle
from ledger.core.gs1 import make_gtin  # noqa: E402
from ledger.core.records import OrganizationCreate, ProductCreate  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from ledger.store import log as store
from ledger.store import migrate
from ledger.store.db import make_engine, read_tx, write_tx  # noqa: E402
from ledger.store.models import LogEntry, LogHead, TreeNode  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_SQLITE = 8_000
TARGET_PG = 5_000
TARGET_LEAVES = 400_000
TARGET_PROOF_MS = 1.0
TARGET_PROOF_RATIO = 2.0

# --- 1. the append path ---------------------------------------------------------------------


def open_ledger(url: str, data_dir: Path) -> Ledger:
    """A migrated ledger with a fresh master key (server-held keys sealed under it)."""
    master = base64.b64encode(os.urandom(32)).decode()
    return Ledger.open(Settings(data_dir=data_dir, database_url=url, master_key=master))


def seed(led: Ledger, n_lots: int) -> tuple[str, list[str]]:
    """One cooperative with a server-held key, three products and ``n_lots`` lots."""
    org = led.create_org(
        OrganizationCreate(
            name="HTX Dịch vụ Thanh long Hữu cơ Phú Hội", slug="htx-phu-hoi", kind="cooperative", province="Lâm Đồng"
        )
    )
    gtins = []
    for i, (vi, en, cat, stars, year) in enumerate(PRODUCTS):
        gtin = make_gtin("8930000", 4560 + i)
        led.create_product(
            org["slug"],
            ProductCreate(gtin=gtin, name_vi=vi, name_en=en, category=cat, ocop_stars=stars, ocop_year=year),
        )
        gtins.append(gtin)
    lots = []
    for i in range(n_lots):
        lot = led.create_lot(
            org["slug"],
            {
                "gtin": gtins[i % len(gtins)],
                "code": f"PH-2026-{i:04d}",
                "origin_province": "Lâm Đồng",
                "origin_commune": "phường Bình Thuận",
                "growing_area_code": f"VN-LDPH-{i % 40:04d}",
                "harvest_start": date(2026, 7, 1).isoformat(),
                "quantity": 5000,
                "unit": "KGM",
            },
        )
        lots.append(lot["lot_id"])
    return org["slug"], lots


def bench_append(
    label: str, url: str, data_dir: Path, args: argparse.Namespace, profile: cProfile.Profile | None
) -> dict[str, Any]:
    led = open_ledger(url, data_dir)
    try:
        t0 = time.perf_counter()
        org, lots = seed(led, args.lots)
        log(f"  {label}: seeded {len(lots)} lots in {time.perf_counter() - t0:.1f} s")
        n = max(1, args.events // args.batch)
        batches = make_batches(lots, args.warmup + n, args.batch, args.fractional)
        for b in batches[: args.warmup]:
            led.record(org, b)
        times, cpu = [], 0.0
        for b in batches[args.warmup :]:
            if profile:
                profile.enable()
            c, t = time.process_time(), time.perf_counter()
            out = led.record(org, b)
            times.append(time.perf_counter() - t)
            cpu += time.process_time() - c
            if profile:
                profile.disable()
            if len(out) != len(b):
                raise SystemExit(f"{label}: Ledger.record stored {len(out)} of {len(b)} events")
        head = led.head()
        expected = len(lots) + (args.warmup + n) * args.batch
        if head.size != expected:
            raise SystemExit(f"{label}: log size is wrong after the run: expected {expected}, got {head.size}")
        rates = [args.batch / t for t in times]
        res = {
            "batches": n,
            "batch_size": args.batch,
            "warmup_batches": args.warmup,
            "events": n * args.batch,
            "seconds": sum(times),
            "median_events_per_s": statistics.median(rates),
            "total_events_per_s": n * args.batch / sum(times),
            "min_events_per_s": min(rates),
            "max_events_per_s": max(rates),
            "events_per_cpu_s": n * args.batch / cpu,
            "log_size_after": head.size,
        }
        log(
            f"  {label}: {res['median_events_per_s']:,.0f} events/s median, "
            f"{res['total_events_per_s']:,.0f} overall ({n} batches of {args.batch})"
        )
        return res
    finally:
        led.engine.dispose()


# --- 2. Merkle append + root -----------------------------------------------------------------


def synthetic_leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(b"ocop-bench-leaf-%d" % i) for i in range(n)]


def bench_merkle(n: int, repeat: int) -> dict[str, Any]:
    leaves = synthetic_leaves(n)
    frontier_s, root_s = [], []
    roots = set()
    for _ in range(repeat):
        t = time.perf_counter()
        f = merkle.Frontier()
        append = f.append
        for h in leaves:
            append(h)
        r1 = f.root()
        frontier_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        r2 = merkle.root(leaves)
        root_s.append(time.perf_counter() - t)
        roots |= {r1, r2}
    if len(roots) != 1:
        raise SystemExit("Frontier root and merkle.root disagree: the benchmark's figures would be meaningless")
    res = {
        "leaves": n,
        "repeat": repeat,
        "frontier_leaves_per_s": n / statistics.median(frontier_s),
        "root_leaves_per_s": n / statistics.median(root_s),
        "root": roots.pop().hex(),
    }
    log(
        f"  merkle: Frontier {res['frontier_leaves_per_s']:,.0f} leaves/s, "
        f"root() {res['root_leaves_per_s']:,.0f} leaves/s ({n:,} leaves, median of {repeat})"
    )
    return res


# --- 3. inclusion proofs from the store --------------------------------------------------------

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_node = TreeNode.__table__  # type: ignore[attr-defined]
_head = LogHead.__table__  # type: ignore[attr-defined]
_EVENT = json.dumps(
    {
        "bizStep": "packing",
        "disposition": "in_progress",
        "eventID": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "eventTime": "2026-07-01T06:30:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "quantityList": [{"lot": "08930000045600.PH-2026-0000", "quantity": 1200, "uom": "KGM"}],
        "readPoint": {"id": "urn:epc:id:sgln:8930000.00031.0", "name": "Nhà đóng gói HTX Phú Hội"},
        "recordTime": "2026-07-01T00:00:00.000Z",
        "type": "ObjectEvent",
        "action": "OBSERVE",
    },
    ensure_ascii=False,
    sort_keys=True,
    separators=(",", ":"),
)
_SIG = base64.b64encode(bytes(64)).decode()
_SIGNER = "ed25519:" + "0" * 64


def bulk_load(url: str, leaves: Sequence[bytes], chunk: int = 20_000) -> bytes:
    """Write a log of synthetic entries and their subtree nodes with Core executemany; return its root."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        frontier = merkle.Frontier()
        now = datetime.now(UTC)
        for start in range(0, len(leaves), chunk):
            rows: list[dict[str, Any]] = []
            nodes: list[dict[str, Any]] = []
            for i in range(start, min(start + chunk, len(leaves))):
                h = leaves[i]
                rows.append(
                    {
                        "idx": i,
                        "lot_id": f"08930000045600.B{i % 1000:04d}",
                        "seq": i // 1000,
                        "prev": None,
                        "event": _EVENT,
                        "event_type": "ObjectEvent",
                        "biz_step": "packing",
                        "event_time": "2026-07-01T06:30:00+07:00",
                        "signer": _SIGNER,
                        "sig": _SIG,
                        "leaf_hash": h,
                        "recorded_at": now,
                    }
                )
                nodes.extend({"level": lv, "idx": ix, "hash": nh} for lv, ix, nh in frontier.append(h))
            with write_tx(engine) as conn:
                conn.execute(_entry.insert(), rows)
                if nodes:
                    conn.execute(_node.insert(), nodes)
        root = frontier.root()
        with write_tx(engine) as conn:
            conn.execute(_head.update().where(_head.c.id == 1).values(size=len(leaves), root=root, updated_at=now))
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()  # outside any transaction: fold the WAL into the main file
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        return root
    finally:
        engine.dispose()


def bench_proofs(size: int, count: int, budget_s: float, verify_sample: int, data_dir: Path) -> dict[str, Any]:
    path = data_dir / f"proofs-{size}.db"
    url = f"sqlite:///{path}"
    leaves = synthetic_leaves(size)
    t = time.perf_counter()
    expected_root = bulk_load(url, leaves)
    load_s = time.perf_counter() - t
    log(f"  proofs: bulk-loaded {size:,} entries in {load_s:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)")
    rng = random.Random(size)
    indexes = [rng.randrange(size) for _ in range(count)]
    engine = make_engine(url)
    try:
        with read_tx(engine) as conn:
            head = store.read_head(conn)
            if (head.size, head.root) != (size, expected_root):
                raise SystemExit(f"proof log head is wrong: expected size {size}, got {head.size}")
            for i in indexes[: min(100, count)]:  # warm the page cache and statement cache
                store.inclusion_proof(conn, i, size)
            times_ms, proofs = [], []
            deadline = time.perf_counter() + budget_s
            for i in indexes:
                t = time.perf_counter_ns()
                p = store.inclusion_proof(conn, i, size)
                times_ms.append((time.perf_counter_ns() - t) / 1e6)
                proofs.append(p)
                if len(proofs) >= 200 and time.perf_counter() > deadline:
                    log(f"  proofs at {size:,}: time budget of {budget_s:.0f} s used after {len(proofs)} proofs")
                    break
            root = store.root_at(conn, size)
        if root != expected_root:
            raise SystemExit(f"store.root_at({size}) differs from the root of the loaded leaves")
        checked = 0
        for i, p in list(zip(indexes, proofs, strict=False))[:verify_sample]:
            merkle.verify_inclusion(leaves[i], i, size, p, root)
            checked += 1
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    res = {
        "size": size,
        "proofs": len(times_ms),
        "median_ms": statistics.median(times_ms),
        "p99_ms": percentile(times_ms, 99),
        "mean_ms": statistics.fmean(times_ms),
        "proof_hashes_median": statistics.median(len(p) for p in proofs),
        "verified": checked,
        "bulk_load_s": load_s,
        "bulk_loaded": True,
        "budget_hit": len(times_ms) < count,
    }
    log(f"  proofs at {size:,}: median {res['median_ms']:.3f} ms, p99 {res['p99_ms']:.3f} ms, {checked} verified")
    return res


# --- the run -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 batches, 10^5 leaves and proof log, 500 proofs")
    ap.add_argument("--events", type=int, help="measured events per database (default 20000; quick 3000)")
    ap.add_argument("--batch", type=int, default=1000, help="events per Ledger.record call (default 1000)")
    ap.add_argument("--warmup", type=int, help="unmeasured batches first (default 2; quick 1)")
    ap.add_argument("--lots", type=int, default=100, help="lots the events are spread over (default 100)")
    ap.add_argument("--fractional", action="store_true", help="fractional quantities (e.g. 812.5 KGM)")
    ap.add_argument("--leaves", type=int, help="Merkle leaves (default 1,000,000; quick 100,000)")
    ap.add_argument("--proof-sizes", help="comma-separated log sizes (default 1000,1000000; quick 1000,100000)")
    ap.add_argument("--proofs", type=int, help="random inclusion proofs per size (default 2000; quick 500)")
    ap.add_argument("--proof-budget", type=float, default=120, help="max seconds of proofs per size (default 120)")
    ap.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL server to make a temp database on ({DEFAULT_PG})")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument("--only", help="comma-separated sections: sqlite,pg,merkle,proofs (default all)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON on stdout instead of a table")
    ap.add_argument("--profile", action="store_true", help="cProfile the measured append batches (to stderr)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    args = ap.parse_args(argv)
    args.events = args.events or (3000 if args.quick else 20_000)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.proofs = args.proofs or (500 if args.quick else 2000)
    args.leaves = args.leaves or (100_000 if args.quick else 1_000_000)
    sizes = args.proof_sizes or ("1000,100000" if args.quick else "1000,1000000")
    args.proof_sizes = [int(s) for s in sizes.split(",")]
    args.only = set((args.only or "sqlite,pg,merkle,proofs").split(","))
    if args.no_pg:
        args.only.discard("pg")
    return args


class Report:
    """Figures for the table, notes under it, and the raw numbers for ``--json``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.figs: list[Figure] = []
        self.notes: list[str] = []
        self.raw: dict[str, Any] = {"machine": machine(), "quick": args.quick}

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.figs.append(Figure(*args, **kwargs))


@contextmanager
def sqlite_url(tmp: Path) -> Iterator[str]:
    path = tmp / "append" / "ledger.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_append(rep: Report, args: argparse.Namespace, tmp: Path) -> None:
    backends: list[tuple[str, str, int, Callable[[], AbstractContextManager[str]]]] = []
    if "sqlite" in args.only:
        backends.append(("sqlite", "SQLite (WAL, temp file)", TARGET_SQLITE, lambda: sqlite_url(tmp)))
    if "pg" in args.only:
        backends.append(("pg", "PostgreSQL (temp database)", TARGET_PG, lambda: temp_pg_database(args.pg_url)))
    for key, label, target, url_ctx in backends:
        section = f"append {label}"
        log(f"{section} ...")
        prof = cProfile.Profile() if args.profile else None
        try:
            with url_ctx() as url:
                res = bench_append(key, url, tmp / key, args, prof)
        except Skip as exc:
            log(f"  skipped: {exc}")
            rep.add(section, "events/s, median batch", None, "ev/s", target, note=str(exc))
            rep.raw[key] = {"skipped": str(exc)}
            continue
        rep.raw[key] = res
        spread = f"min {res['min_events_per_s']:,.0f}, max {res['max_events_per_s']:,.0f}"
        rep.add(
            section,
            f"events/s, median of {res['batches']} batches",
            res["median_events_per_s"],
            "ev/s",
            target,
            note=spread,
        )
        after = f"{res['seconds']:.2f} s; log size after {res['log_size_after']:,}"
        rep.add(
            section,
            f"events/s, total ({res['events']:,} events)",
            res["total_events_per_s"],
            "ev/s",
            target,
            note=after,
        )
        where = "all work in this process" if key == "sqlite" else "excludes the PostgreSQL server's CPU"
        rep.add(section, "events per CPU-second of this process", res["events_per_cpu_s"], "ev/s", note=where)
        if prof:
            print_profile(key, prof)
    rep.notes.append(
        f"append: wall time of Ledger.record(org, {args.batch} items) incl. commit, after {args.warmup} "
        f"warm-up batch(es); {args.lots} lots; ObjectEvents ocop:harvesting/inspecting/packing"
        + (" with fractional quantities (rfc8785 path)" if args.fractional else "")
        + ". Events per CPU-second is less sensitive to other load on the machine."
    )
    if args.profile:
        rep.notes.append("cProfile was on during the append batches: those figures include its overhead")


def print_profile(key: str, prof: cProfile.Profile) -> None:
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s)
    st.sort_stats("tottime").print_stats(30)
    st.sort_stats("cumulative").print_stats(45)
    log(f"\n===== cProfile of the measured append batches: {key} =====\n{s.getvalue()}")


def run_merkle(rep: Report, args: argparse.Namespace) -> None:
    log("merkle ...")
    m = rep.raw["merkle"] = bench_merkle(args.leaves, 1 if args.quick else 3)
    sec = f"Merkle ({m['leaves']:,} leaves)"
    rep.add(
        sec,
        "Frontier.append ×n + root()",
        m["frontier_leaves_per_s"],
        "leaves/s",
        TARGET_LEAVES,
        note=f"median of {m['repeat']}",
    )
    rep.add(sec, "merkle.root(list)", m["root_leaves_per_s"], "leaves/s", TARGET_LEAVES, note="same root as Frontier")


def run_proofs(rep: Report, args: argparse.Namespace, tmp: Path) -> None:
    log("inclusion proofs ...")
    rep.raw["proofs"] = {}
    results = []
    for size in args.proof_sizes:
        r = bench_proofs(size, args.proofs, args.proof_budget, 200, tmp)
        rep.raw["proofs"][str(size)] = r
        results.append(r)
        sec = f"inclusion proof, SQLite, n={size:,}"
        checked = f"{r['proof_hashes_median']:.0f} hashes; {r['verified']} verified vs root_at"
        rep.add(sec, f"median of {r['proofs']:,} random", r["median_ms"], "ms", TARGET_PROOF_MS, "lower", checked)
        budget = f"; stopped at the {args.proof_budget:.0f} s budget" if r["budget_hit"] else ""
        rep.add(sec, "p99", r["p99_ms"], "ms", note=f"bulk-loaded in {r['bulk_load_s']:.1f} s{budget}")
    if len(results) >= 2:
        small, big = results[0], results[-1]
        ratio = rep.raw["proofs"]["ratio"] = big["median_ms"] / small["median_ms"]
        sec = f"inclusion proof, n={big['size']:,} vs {small['size']:,}"
        rep.add(sec, "median time ratio", ratio, "x", TARGET_PROOF_RATIO, "lower")
    rep.notes.append(
        "proof logs are BULK-LOADED: synthetic leaf hashes written with SQLAlchemy Core executemany into "
        "log_entry and tree_node (nodes from merkle.Frontier.append), log_head set to (size, root); not signed "
        "through Ledger.record. Proofs: store.inclusion_proof at the head size, random indexes, one read "
        "transaction, after 100 warm-up proofs."
    )


def run(args: argparse.Namespace) -> Report:
    rep = Report(args)
    with temp_dir() as tmp:
        if args.only & {"sqlite", "pg"}:
            run_append(rep, args, tmp)
        if "merkle" in args.only:
            run_merkle(rep, args)
        if "proofs" in args.only:
            run_proofs(rep, args, tmp)
    return rep


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so temp files and databases go
    t0 = time.perf_counter()
    rep = run(args)
    elapsed = time.perf_counter() - t0
    if args.json:
        out = {"figures": [f.to_json() for f in rep.figs], "notes": rep.notes, "raw": rep.raw, "runtime_s": elapsed}
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        m = rep.raw["machine"]
        title = (
            f"OCOP Ledger benchmark ({'quick' if args.quick else 'full'}) — Python {m['python']}, "
            f"{m['cpus']} CPUs (load {m['load_avg_1m_at_start']} at start), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"ran {elapsed:.0f} s"
        )
        print_table(title, rep.figs, rep.notes)
    missed = [f for f in rep.figs if f.verdict == "MISS"]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
