"""Load against a running server, and the nothing-lost check afterwards.

``run_load`` drives W writers (each with its organization's API key, posting single events and
batches to its own lot and to its organization's shared lot; every fifth writer is an inspector
writing to any lot) and R readers (verify, lot page, checkpoint, entries) for S seconds with httpx,
and records every acknowledged event (lot, seq, index, leaf hash). ``check_nothing_lost`` then reads
the database: each acknowledged event is in the log exactly once at its index with its leaf hash,
the log is gapless, the head size equals the entry count, and every lot's chain verifies.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from ledger.service import Ledger
from ledger.store.db import read_tx
from ledger.store.models import LogEntry, Lot
from tests.hardening.server import Seeded

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
STEPS = ("ocop:harvesting", "ocop:cooling", "packing", "storing")


@dataclass
class Ack:
    lot: str
    seq: int
    index: int
    leaf_hash: str


@dataclass
class LoadResult:
    seconds: float
    acks: list[Ack] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)

    @property
    def writes(self) -> int:
        return sum(n for (kind, st), n in self.statuses.items() if kind in ("event", "batch") and st < 300)

    @property
    def reads(self) -> int:
        return sum(n for (kind, st), n in self.statuses.items() if kind not in ("event", "batch") and st < 300)

    def errors(self) -> dict[str, int]:
        out = {f"{kind} {st}": n for (kind, st), n in sorted(self.statuses.items()) if st >= 400}
        out.update({f"transport {k}": n for k, n in self.transport_errors.items()})
        return out

    def server_errors(self) -> int:
        return sum(n for (_, st), n in self.statuses.items() if st >= 500)

    def summary(self) -> str:
        lines = [
            f"duration {self.seconds:.1f} s: {self.writes} write requests ({self.writes / self.seconds:.1f}/s), "
            f"{len(self.acks)} events acknowledged ({len(self.acks) / self.seconds:.1f}/s), "
            f"{self.reads} reads ({self.reads / self.seconds:.1f}/s)",
            f"{'kind':<12}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}",
        ]
        for kind, xs in sorted(self.latencies.items()):
            xs = sorted(xs)
            lines.append(f"{kind:<12}{len(xs):>7}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}")
        lines.append(f"errors by status: {self.errors() or 'none'}")
        return "\n".join(lines)


def pct(sorted_xs: list[float], p: float) -> float:
    if not sorted_xs:
        return 0.0
    k = min(len(sorted_xs) - 1, max(0, round(p / 100 * len(sorted_xs) + 0.5) - 1))
    return sorted_xs[k] * 1000


def _event(step: str, n: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": step,
        "eventTime": f"2026-07-02T{n % 24:02d}:{n % 60:02d}:00+07:00",
        "ilmd": {"note": f"load {n}"},
    }


async def _call(res: LoadResult, kind: str, coro: Any) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        r: httpx.Response = await coro
    except httpx.HTTPError as exc:
        res.transport_errors[type(exc).__name__] += 1
        return None
    res.latencies[kind].append(time.perf_counter() - t0)
    res.statuses[(kind, r.status_code)] += 1
    return r


def _ack(res: LoadResult, items: list[dict[str, Any]]) -> None:
    for it in items:
        res.acks.append(Ack(str(it["lot"]), int(it["seq"]), int(it["index"]), str(it["leaf_hash"])))


async def _writer(c: httpx.AsyncClient, w: int, seeded: Seeded, res: LoadResult, stop: float) -> None:
    rng = random.Random(w)
    all_lots = [lot for _, lot in seeded.own_lots]
    if w % 5 == 4:  # an inspector: inspecting events on anyone's lots (shared across organizations)
        token, lots, steps = seeded.inspector, all_lots + list(seeded.shared_lots.values()), ("inspecting",)
    else:
        org, own = seeded.own_lots[w % len(seeded.own_lots)]
        token, lots, steps = seeded.tokens[org], [own, seeded.shared_lots[org]], STEPS
    auth = {"Authorization": f"Bearer {token}"}
    n = 0
    while time.monotonic() < stop:
        n += 1
        lot = rng.choice(lots)
        if n % 3 == 0:
            items = [{"lot": rng.choice(lots), "event": _event(rng.choice(steps), n + k)} for k in range(5)]
            r = await _call(res, "batch", c.post("/api/v1/events:batch", json={"events": items}, headers=auth))
            if r is not None and r.status_code == 201:
                _ack(res, r.json()["recorded"])
        else:
            path = f"/api/v1/lots/{lot.replace('/', '%2F')}/events"
            r = await _call(res, "event", c.post(path, json=_event(rng.choice(steps), n), headers=auth))
            if r is not None and r.status_code == 201:
                _ack(res, [r.json()])


async def _reader(c: httpx.AsyncClient, r_: int, seeded: Seeded, res: LoadResult, stop: float) -> None:
    rng = random.Random(1000 + r_)
    lots = [lot for _, lot in seeded.own_lots] + list(seeded.shared_lots.values())
    n = 0
    while time.monotonic() < stop:
        n += 1
        lot = rng.choice(lots)
        g, code = lot.split(".", 1)
        kind = ("verify", "page", "checkpoint", "entries")[n % 4]
        if kind == "verify":
            await _call(res, kind, c.get(f"/api/v1/lots/{lot}/verify"))
        elif kind == "page":
            await _call(res, kind, c.get(f"/01/{g}/10/{code}", headers={"Accept": "text/html"}))
        elif kind == "checkpoint":
            await _call(res, kind, c.get("/api/v1/log/checkpoint"))
        else:
            start = rng.randint(0, 50)
            await _call(res, kind, c.get("/api/v1/log/entries", params={"start": start, "end": start + 20}))


async def run_load(base_url: str, seeded: Seeded, *, seconds: float, writers: int, readers: int) -> LoadResult:
    # idle pooled connections are dropped before the server's keep-alive timeout (uvicorn's 5 s, httpx's
    # default expiry too): otherwise one the server is closing can be reused, and fail with ReadError
    n = writers + readers
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as c:
        t0 = time.monotonic()
        stop = t0 + seconds
        res = LoadResult(seconds)
        await asyncio.gather(
            *(_writer(c, w, seeded, res, stop) for w in range(writers)),
            *(_reader(c, r, seeded, res, stop) for r in range(readers)),
        )
        res.seconds = time.monotonic() - t0
        return res


def check_nothing_lost(led: Ledger, acks: list[Ack], *, verify_lots: bool = True) -> list[str]:
    """Problems found (empty when every acknowledged event is in the log exactly once and all verifies)."""
    problems: list[str] = []
    with read_tx(led.engine) as conn:
        rows = conn.execute(select(_entry.c.idx, _entry.c.leaf_hash, _entry.c.lot_id, _entry.c.seq)).all()
        lots = [str(x) for (x,) in conn.execute(select(_lot.c.lot_id))]
        count = int(conn.execute(select(func.count()).select_from(_entry)).scalar_one())
    by_idx = {int(r.idx): (bytes(r.leaf_hash).hex(), r.lot_id, int(r.seq)) for r in rows}
    if sorted(by_idx) != list(range(len(by_idx))):
        problems.append(f"log is not gapless: {len(by_idx)} entries, max index {max(by_idx, default=-1)}")
    leaf_counts = Counter(h for h, _, _ in by_idx.values())
    dup = [h for h, n in leaf_counts.items() if n > 1]
    if dup:
        problems.append(f"{len(dup)} leaf hashes appear more than once")
    seen: Counter[int] = Counter(a.index for a in acks)
    if any(n > 1 for n in seen.values()):
        problems.append("one index was acknowledged twice")
    for a in acks:
        got = by_idx.get(a.index)
        if got is None:
            problems.append(f"acknowledged index {a.index} ({a.lot} seq {a.seq}) is missing")
        elif got != (a.leaf_hash, a.lot, a.seq):
            problems.append(f"index {a.index}: acknowledged {a.leaf_hash[:12]} {a.lot}#{a.seq}, stored {got}")
        elif leaf_counts[a.leaf_hash] != 1:
            problems.append(f"index {a.index}: leaf hash stored {leaf_counts[a.leaf_hash]} times")
        if len(problems) > 20:
            break
    head = led.head()
    if head.size != count:
        problems.append(f"head size {head.size} != {count} entries")
    if verify_lots:
        for lot in lots:
            rep = led.verify_lot(lot)
            if rep.verdict == "tampered":
                problems.append(f"lot {lot} does not verify: {rep.failure}")
    return problems
