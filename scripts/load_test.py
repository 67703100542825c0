"""Load with nothing lost: a real server on PostgreSQL, concurrent writers and readers, then the check.

    .venv/bin/python scripts/load_test.py [--seconds 60] [--writers 50] [--readers 20] [--sqlite] [--json]
    .venv/bin/python scripts/load_test.py --kill [--seconds 20] [--writers 50]

Creates a temporary PostgreSQL database (``LEDGER_TEST_PG_URL``, default
postgresql://postgres@127.0.0.1:5432/test; ``--sqlite`` uses a temporary SQLite file instead), seeds
organizations, API keys and lots, starts ``ocop-ledger serve`` on a free port of 127.0.0.1, and runs
the load of ``tests/hardening/loadgen.py``. Afterwards every acknowledged event must be in the log
exactly once (by index and leaf hash), the log gapless, the head size equal to the entry count, and
every lot's chain must verify. Prints throughput, p50/p99 per request kind and errors by status;
exit 1 on any loss or any 5xx.

``--kill`` starts two servers on one PostgreSQL and SIGKILLs one half way through: writers resend
unanswered requests with the same ``Idempotency-Key`` to the other (``tests/hardening/killload.py``);
every acknowledged event must be in the log once, the log gapless, and no event stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.service import Ledger  # noqa: E402
from tests.hardening import loadgen, server  # noqa: E402


def run(seconds: float, writers: int, readers: int, sqlite: bool) -> tuple[loadgen.LoadResult, list[str], int]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = f"sqlite:///{tmp / 'ledger.db'}" if sqlite else stack.enter_context(server.pg_temp_database())
        led = Ledger.open(server.settings(tmp, url))
        stack.callback(led.engine.dispose)
        seeded = server.seed(led, orgs=10, lots_per_org=max(1, writers // 10))
        srv = stack.enter_context(server.Server(tmp, url, tmp))
        res = asyncio.run(loadgen.run_load(srv.url, seeded, seconds=seconds, writers=writers, readers=readers))
        srv.stop()
        problems = loadgen.check_nothing_lost(led, res.acks)
        return res, problems, led.head().size


def run_kill(seconds: float, writers: int) -> int:
    from tests.hardening import killload

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(server.pg_temp_database())
        led = Ledger.open(server.settings(tmp, url))
        stack.callback(led.engine.dispose)
        seeded = server.seed(led, orgs=10, lots_per_org=max(1, writers // 10))
        a = stack.enter_context(server.Server(tmp, url, tmp))
        b = stack.enter_context(server.Server(tmp, url, tmp))
        res = asyncio.run(killload.run([a.url, b.url], seeded, seconds=seconds, writers=writers, kill=a.kill))
        problems = loadgen.check_nothing_lost(led, res.all_acks(), verify_lots=False)
        problems += [f"stored twice: {n}" for n in killload.notes_stored_twice(led)]
        problems += [f"replay differs from the first answer: {k}" for k in res.mismatched]
        print(
            f"two servers, one SIGKILLed after {seconds / 2:.0f} s: {len(res.acks)} keyed requests acknowledged, "
            f"{res.resent} resent, {res.replayed} replayed, {res.unanswered} unanswered, statuses {dict(res.statuses)}"
        )
        print(f"log size {led.head().size}; nothing lost, nothing twice: {'yes' if not problems else 'NO'}")
        for prob in problems[:20]:
            print("PROBLEM", prob, file=sys.stderr)
        return 1 if problems or res.unanswered or set(res.statuses) - {201} else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--writers", type=int, default=50)
    p.add_argument("--readers", type=int, default=20)
    p.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts/reliability.py)")
    p.add_argument("--kill", action="store_true", help="two servers on PostgreSQL; SIGKILL one mid-load")
    args = p.parse_args()
    if args.kill:
        return run_kill(args.seconds, args.writers)
    res, problems, size = run(args.seconds, args.writers, args.readers, args.sqlite)
    figures: dict[str, Any] = {
        "database": "sqlite" if args.sqlite else "postgresql",
        "seconds": round(res.seconds, 1),
        "writers": args.writers,
        "readers": args.readers,
        "write_requests": res.writes,
        "events_acknowledged": len(res.acks),
        "writes_per_s": round(res.writes / res.seconds, 1),
        "events_per_s": round(len(res.acks) / res.seconds, 1),
        "reads_per_s": round(res.reads / res.seconds, 1),
        "latency_ms": {
            k: {"p50": round(loadgen.pct(sorted(v), 50), 1), "p99": round(loadgen.pct(sorted(v), 99), 1)}
            for k, v in sorted(res.latencies.items())
        },
        "errors": res.errors(),
        "server_errors": res.server_errors(),
        "log_size": size,
        "lost_or_duplicated": len(problems),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['database']}: {args.writers} writers, {args.readers} readers")
        print(res.summary())
        print(f"log size {size}; nothing lost: {'yes' if not problems else 'NO'}")
    for prob in problems[:20]:
        print("PROBLEM", prob, file=sys.stderr)
    return 1 if problems or res.server_errors() or res.transport_errors else 0


if __name__ == "__main__":
    sys.exit(main())
