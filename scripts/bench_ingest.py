"""Ingestion at scale: concurrent single-event writers against real servers, and the audit on every core.

    .venv/bin/python scripts/bench_ingest.py            # 20 s per load phase, audit of 10^6 entries
    .venv/bin/python scripts/bench_ingest.py --quick    # 3 s per phase, audit of 20,000 entries (extrapolated)
    .venv/bin/python scripts/bench_ingest.py --only sqlite,pg,workers,audit --json

Starts ``ocop-ledger serve`` on free 127.0.0.1 ports over a seeded ledger (a temporary SQLite file,
and a temporary PostgreSQL database at ``LEDGER_TEST_PG_URL``) and drives it with Debian's ``wrk``
(``scripts/wrk/*.lua``: 50 keep-alive connections, each request one new event with the producer's
API key), after one second of each load to warm the server up (not counted). Prints each figure
with its target and PASS/MISS:

- 50 concurrent single-event writers: events/s acknowledged (PostgreSQL ≥ 1,500, SQLite ≥ 1,000),
  p99 ≤ 150 ms, and the ratio to the same server's ``/healthz`` requests/s at 50 connections ≥ 0.3;
  PostgreSQL on ``serve`` (one worker) and on ``serve --workers 2`` (section ``pg2``); SQLite has
  one writer at a time by design, so one worker;
- while the writers run, ``/verify`` and the scan page of a lot keep p99 ≤ 50 ms (a second writers'
  phase with one sequential reader of each beside it, about 80 reads/s each; the first phase, which
  gives the write figures, has the writers alone);
- two workers (``serve --workers 2``) on one PostgreSQL ≥ 1.5× one worker, nothing lost, gapless
  (one worker and two, ``--rounds`` times, default 6, in alternating order, each on a fresh database;
  medians);
- the full-log audit on every core ≥ 1.8× its single-core rate, and 10^6 entries in ≤ 100 s.

Not a timed test: the figures depend on the machine; take them on a quiet one. On a shared one,
compare the server's CPU milliseconds per acknowledged event and per ``/healthz`` request (read
from ``/proc``; no target), and the audit's CPU seconds in the notes, which other load moves less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_common import Figure, Skip, log, machine, print_table, temp_pg_database  # noqa: E402

from ledger.service import Ledger  # noqa: E402
from tests.hardening import server  # noqa: E402

WRK_DIR = ROOT / "scripts" / "wrk"
PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONNECTIONS = 50


class Serve:
    """``ocop-ledger serve [--workers N]`` on a free port, stopped with SIGTERM."""

    def __init__(self, tmp: Path, url: str, workers: int = 1) -> None:
        self.srv = server.Server(tmp, url, tmp)
        self.workers = workers

    @property
    def pid(self) -> int:
        assert self.srv.proc is not None
        return self.srv.proc.pid

    def __enter__(self) -> str:
        s = self.srv
        exe = Path(sys.executable).with_name("ocop-ledger")
        with open(s.log, "ab") as err:
            s.proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(s.port), "--workers", str(self.workers)],
                cwd=s.cwd,
                env=s.env,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        _wait_up(s)
        return s.url

    def __exit__(self, *exc: Any) -> None:
        self.srv.stop()

    def cpu_seconds(self) -> float:
        """CPU seconds of the server and its worker processes so far."""
        kids = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout.split()
        return cpu_seconds(self.pid) + sum(cpu_seconds(int(k)) for k in kids)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(s: server.Server, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert s.proc is not None
        if s.proc.poll() is not None:
            raise RuntimeError(f"server exited with {s.proc.returncode}:\n{s.text()}")
        try:
            if httpx.get(s.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not come up in {timeout} s:\n{s.text()}")


def wrk(url: str, seconds: float, connections: int, script: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run wrk and return its figures (requests/s, acknowledged/s, p50/p99 ms)."""
    threads = max(1, min(2, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    cmd += ["-s", str(WRK_DIR / script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{out.stdout}\n{out.stderr}")
    data: dict[str, Any] = json.loads(line[4:])
    data["ok"] = data["requests"] - data["non_2xx"]
    data["ok_per_s"] = data["ok"] / data["seconds"]
    data["per_s"] = data["requests"] / data["seconds"]
    return data


@contextmanager
def ledger_db(kind: str) -> Iterator[tuple[Path, str, Ledger, server.Seeded]]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        url = f"sqlite:///{tmp / 'ledger.db'}" if kind == "sqlite" else stack.enter_context(temp_pg_database(PG_URL))
        led = Ledger.open(server.settings(tmp, url))
        stack.callback(led.engine.dispose)
        seeded = server.seed(led, orgs=1, lots_per_org=CONNECTIONS)
        yield tmp, url, led, seeded


def _writer_env(seeded: server.Seeded) -> dict[str, str]:
    org, _ = seeded.own_lots[0]
    lots = [lot.replace("/", "%2F") for o, lot in seeded.own_lots[1:] if o == org]
    return {"TOKEN": seeded.tokens[org], "LOTS": ",".join(lots)}


def _quiet_lot(seeded: server.Seeded) -> tuple[str, str]:
    """The lot the readers look at (the writers write to the others)."""
    lot = seeded.own_lots[0][1]
    return lot, "/01/{}/10/{}".format(*lot.split(".", 1))


def _gapless(led: Ledger, before: int, acked: int) -> tuple[bool, str]:
    from sqlalchemy import func, select

    from ledger.store import log as store
    from ledger.store.db import read_tx
    from ledger.store.models import LogEntry

    t: Any = LogEntry.__table__
    with read_tx(led.engine) as conn:  # one snapshot, taken after the server stopped
        n, lo, hi = conn.execute(select(func.count(), func.min(t.c.idx), func.max(t.c.idx))).one()
        size = store.read_head(conn).size
    ok = n == size and lo == 0 and hi == size - 1 and size - before >= acked
    return ok, f"{size - before} stored for {acked} acknowledged; {n} entries, indexes {lo}..{hi}, head {size}"


def bench_writers(kind: str, seconds: float, workers: int = 1) -> list[Figure]:
    sec = f"writers {kind}" + (f", serve --workers {workers}" if workers > 1 else "")
    target = 1500.0 if kind == "postgresql" else 1000.0
    with ledger_db(kind) as (tmp, url, led, seeded):
        with (srv := Serve(tmp, url, workers)) as base:
            log(f"{sec}: warming up (1 s of writers, 1 s of /healthz; not counted)")
            wrk(base, 1, CONNECTIONS, "post_events.lua", _writer_env(seeded))
            wrk(base + "/healthz", 1, CONNECTIONS, "get.lua")
            log(f"{sec}: /healthz at {CONNECTIONS} connections for {seconds:.0f} s")
            c0 = srv.cpu_seconds()
            health = wrk(base + "/healthz", seconds, CONNECTIONS, "get.lua")
            c1 = srv.cpu_seconds()
            before = led.head().size
            log(f"{sec}: {CONNECTIONS} single-event writers for {seconds:.0f} s")
            w = wrk(base, seconds, CONNECTIONS, "post_events.lua", _writer_env(seeded))
            c2 = srv.cpu_seconds()
            lot, page = _quiet_lot(seeded)
            log(f"{sec}: the writers again for {seconds:.0f} s, with a /verify and a scan page reader on {lot}")
            readers = [
                subprocess.Popen(
                    [sys.executable, __file__, "--reader", base + path, str(seconds)], stdout=subprocess.PIPE, text=True
                )
                for path in (f"/api/v1/lots/{lot}/verify", page)
            ]
            w2 = wrk(base, seconds, CONNECTIONS, "post_events.lua", _writer_env(seeded))
            reads = [json.loads(r.communicate()[0].strip().splitlines()[-1]) for r in readers]
        ok, detail = _gapless(led, before, w["ok"] + w2["ok"])
    note = f"{w['ok']} acknowledged, {w['non_2xx']} non-2xx, {w['socket_errors']} socket errors"
    under = f"the writers meanwhile: {w2['ok_per_s']:.0f} events/s, p99 {w2['p99_ms']:.1f} ms"
    return [
        Figure(sec, "events/s acknowledged", w["ok_per_s"], "/s", target, note=note),
        Figure(sec, "write p99", w["p99_ms"], "ms", 150.0, "lower", note=f"p50 {w['p50_ms']:.1f} ms"),
        Figure(sec, "/healthz requests/s", health["per_s"], "/s", note=f"p99 {health['p99_ms']:.1f} ms"),
        Figure(sec, "events/s ÷ /healthz/s", w["ok_per_s"] / max(health["per_s"], 1e-9), "x", 0.3),
        Figure(sec, "server CPU per event", (c2 - c1) * 1000 / max(w["ok"], 1), "ms", note="user + system, /proc"),
        Figure(sec, "server CPU per /healthz", (c1 - c0) * 1000 / max(health["requests"], 1), "ms"),
        Figure(sec, "/verify p99 under writes", reads[0]["p99_ms"], "ms", 50.0, "lower", note=_rnote(reads[0])),
        Figure(sec, "scan page p99 under writes", reads[1]["p99_ms"], "ms", 50.0, "lower", note=_rnote(reads[1])),
        Figure(sec, "writers beside the readers", w2["ok_per_s"], "/s", note=under),
        Figure(sec, "log gapless, nothing lost", 1.0 if ok else 0.0, "x", 1.0, note=detail),
    ]


def _rnote(r: dict[str, Any]) -> str:
    return f"{r['n']} reads, p50 {r['p50_ms']:.1f} ms, {r['errors']} errors"


def reader(url: str, seconds: float) -> None:
    """One sequential reader (a second process, so its timing is not the writers' client's)."""
    import httpx

    times: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    with httpx.Client(timeout=10, headers={"Accept": "text/html, application/json"}) as c:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                ok = c.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            times.append(time.perf_counter() - t0)
            errors += not ok
            time.sleep(0.01)
    times.sort()
    pick = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))] * 1000 if times else 0.0  # noqa: E731
    print(json.dumps({"n": len(times), "errors": errors, "p50_ms": pick(50), "p99_ms": pick(99)}))


def bench_workers(seconds: float, rounds: int = 6) -> list[Figure]:
    """One worker and two, ``rounds`` times over (each run on a fresh database): the figures are the
    medians, so one noisy run on a shared machine moves neither side of the ratio alone. The order
    alternates from round to round: of two runs in a row on this machine, the first was the faster
    in 9 of 11 pairs of the same code, so a fixed order would favour one side.

    Beside the rates, where the CPU went (from ``/proc``, Linux, PostgreSQL on this machine): the
    server's and PostgreSQL's CPU milliseconds per acknowledged event, the cores the whole machine
    kept busy, and what two workers would reach if they kept every core busy at their measured cost
    per event (``cores ÷ machine CPU per event``), as a ratio to one worker. With the load generator
    and PostgreSQL on the same cores, that ceiling, not the code alone, bounds the ratio."""
    sec = "two workers, PostgreSQL"
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[tuple[float, float, float, float]]] = {1: [], 2: []}  # server, pg, machine ms/ev; busy
    details = []
    good = True
    for r in range(rounds):
        for n in (1, 2) if r % 2 == 0 else (2, 1):  # either side goes first as often (see docstring)
            with ledger_db("postgresql") as (tmp, url, led, seeded):
                with (srv := Serve(tmp, url, workers=n)) as base:
                    wrk(base, 1, CONNECTIONS, "post_events.lua", _writer_env(seeded))  # warm-up, not counted
                    log(f"postgresql, serve --workers {n}, round {r + 1}/{rounds}: {seconds:.0f} s")
                    before = led.head().size
                    c0, p0, m0 = srv.cpu_seconds(), _pg_cpu_seconds(), _machine_busy()
                    w = wrk(base, seconds, CONNECTIONS, "post_events.lua", _writer_env(seeded))
                    c1, p1, m1 = srv.cpu_seconds(), _pg_cpu_seconds(), _machine_busy()
                ok, detail = _gapless(led, before, w["ok"])
                rates[n].append(w["ok_per_s"])
                per = 1000 / max(w["ok"], 1)
                cpu[n].append(((c1 - c0) * per, (p1 - p0) * per, (m1 - m0) * per, (m1 - m0) / w["seconds"]))
                good &= ok
                if not ok or r == 0:
                    details.append(f"{n} worker(s), round {r + 1}: {detail}")
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    runs = lambda n: ", ".join(f"{x:,.0f}" for x in rates[n])  # noqa: E731
    ratios = ", ".join(f"{b / max(a, 1e-9):.2f}" for a, b in zip(rates[1], rates[2], strict=True))
    med = lambda n, i: statistics.median(c[i] for c in cpu[n])  # noqa: E731
    cores = os.cpu_count() or 1
    ceiling = cores / max(med(2, 2), 1e-9) * 1000 / max(one, 1e-9)
    spent = lambda n: (  # noqa: E731
        f"server {med(n, 0):.3f}, PostgreSQL {med(n, 1):.3f}, whole machine {med(n, 2):.3f} ms; "
        f"{med(n, 3):.2f} of {cores} cores busy"
    )
    return [
        Figure(sec, "1 worker events/s", one, "/s", note=f"median of {rounds} runs: {runs(1)}"),
        Figure(sec, "2 workers events/s", two, "/s", note=f"median of {rounds} runs: {runs(2)}"),
        Figure(sec, "2 workers ÷ 1 worker", two / max(one, 1e-9), "x", 1.5, note=f"per round: {ratios}"),
        Figure(sec, "nothing lost, gapless", 1.0 if good else 0.0, "x", 1.0, note="; ".join(details)),
        Figure(sec, "1 worker: CPU per event", med(1, 2), "ms", note=spent(1)),
        Figure(sec, "2 workers: CPU per event", med(2, 2), "ms", note=spent(2)),
        Figure(
            sec,
            "2 workers at every core ÷ 1",
            ceiling,
            "x",
            note=f"{cores} cores ÷ the 2 workers' machine CPU per event, ÷ the 1 worker rate (no target)",
        ),
    ]


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (``/proc/stat``: all but idle and iowait)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _pg_cpu_seconds() -> float:
    """CPU seconds of this machine's PostgreSQL processes so far (0 if it runs elsewhere)."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    return sum(cpu_seconds(int(p)) for p in pids)


def bench_audit(entries: int) -> list[Figure]:
    from bench_audit import load

    from ledger.audit.auditor import audit
    from ledger.store import migrate
    from ledger.store.db import make_engine
    from ledger.store.keys import KeyRing

    sec = "audit"
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-ingest-audit-") as d:
        engine = make_engine(f"sqlite:///{d}/ledger.db")
        try:
            migrate.upgrade(engine)
            load(Ledger(engine, KeyRing(bytes(range(32)))), entries, 1000)
            log(f"audit of {entries:,} entries: 1 process, then {cpus}")
            t0 = _cpu_self_and_children()
            one = audit(engine, processes=1)
            t1 = _cpu_self_and_children()
            many = audit(engine, processes=cpus)
            t2 = _cpu_self_and_children()
        finally:
            engine.dispose()
    r1, rn = one.entries / one.seconds, many.entries / many.seconds
    findings = len(one.findings) + len(many.findings)
    est = 1e6 / rn
    return [
        Figure(sec, "1 process entries/s", r1, "/s", note=f"{one.seconds:.1f} s; {t1 - t0:.1f} CPU s"),
        Figure(
            sec,
            f"{cpus} processes entries/s",
            rn,
            "/s",
            note=f"{many.seconds:.1f} s; {t2 - t1:.1f} CPU s over all processes; {findings} findings",
        ),
        Figure(sec, f"{cpus} processes ÷ 1", rn / r1, "x", 1.8 if cpus >= 2 else None),
        Figure(
            sec,
            "10^6 entries",
            est if entries < 1_000_000 else many.seconds * 1e6 / entries,
            "s",
            100.0,
            "lower",
            note="extrapolated from the measured rate" if entries < 1_000_000 else "measured",
        ),
    ]


def _cpu_self_and_children() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s per load phase, audit of 20,000 entries")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per load phase (default 20; quick 3)")
    ap.add_argument("--audit-entries", type=int, default=None, help="default 10^6; quick 20,000")
    ap.add_argument(
        "--only",
        default="sqlite,pg,pg2,workers,audit",
        help="sections to run, comma separated (pg2: the PostgreSQL writers on serve --workers 2)",
    )
    ap.add_argument("--rounds", type=int, default=6, help="runs of one and of two workers (medians; default 6)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reader", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        reader(args.reader[0], float(args.reader[1]))
        return 0
    if shutil.which("wrk") is None:
        print("bench_ingest: needs Debian's wrk (apt-get install -y wrk; scripts/setup.sh --dev)", file=sys.stderr)
        return 2
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    entries = args.audit_entries or (20_000 if args.quick else 1_000_000)
    only = set(args.only.split(","))
    figures: list[Figure] = []
    notes = [f"machine: {machine()}", "wrk: 2 threads, 50 keep-alive connections; one new event per request"]
    sections = [
        ("sqlite", lambda: bench_writers("sqlite", seconds)),
        ("pg", lambda: bench_writers("postgresql", seconds)),
        ("pg2", lambda: bench_writers("postgresql", seconds, workers=2)),
        ("workers", lambda: bench_workers(seconds, max(1, args.rounds))),
        ("audit", lambda: bench_audit(entries)),
    ]
    for name, run in sections:
        if name not in only:
            continue
        try:
            figures += run()
        except Skip as exc:
            notes.append(f"{name} skipped: {exc}")
    if args.json:
        print(json.dumps({"figures": [f.to_json() for f in figures], "notes": notes}))
    else:
        print_table("Ingestion at scale (issue 12)", figures, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
