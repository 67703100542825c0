"""Load on two API processes sharing one PostgreSQL, one of them SIGKILLed in the middle.

Every write carries an ``Idempotency-Key`` and a unique note. A writer whose server dies under it
(connection refused or dropped, so it cannot know whether its request was stored) resends the same
request with the same key to the other server, as a client should. Afterwards: every acknowledged
event is in the log exactly once at its index, the log is gapless, and no note is stored twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from ledger.service import Ledger
from ledger.store.db import read_tx
from ledger.store.models import LogEntry
from tests.hardening.loadgen import STEPS, Ack
from tests.hardening.server import Seeded

_entry: Any = LogEntry.__table__


@dataclass
class KillResult:
    acks: dict[str, list[Ack]] = field(default_factory=dict)  # idempotency key -> acknowledged events
    statuses: Counter[int] = field(default_factory=Counter)
    resent: int = 0
    replayed: int = 0
    mismatched: list[str] = field(default_factory=list)  # a replay that differs from the first answer
    unanswered: int = 0  # gave up after every server failed

    def all_acks(self) -> list[Ack]:
        return [a for acks in self.acks.values() for a in acks]


def _body(rng: random.Random, lots: list[str], key: str, batch: bool) -> tuple[str, dict[str, Any]]:
    def ev(k: int) -> dict[str, Any]:
        return {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": rng.choice(STEPS),
            "eventTime": "2026-07-02T06:30:00+07:00",
            "ilmd": {"note": f"{key}/{k}"},
        }

    if batch:
        return "/api/v1/events:batch", {"events": [{"lot": rng.choice(lots), "event": ev(k)} for k in range(3)]}
    lot = rng.choice(lots)
    return f"/api/v1/lots/{lot.replace('/', '%2F')}/events", ev(0)


async def _send(
    cs: list[httpx.AsyncClient], first: int, path: str, body: Any, headers: dict[str, str], res: KillResult
) -> httpx.Response | None:
    for attempt in range(6):
        c = cs[(first + attempt) % len(cs)]
        try:
            return await c.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            res.resent += 1  # unknown outcome: resend the same request, same key, to the next server
            await asyncio.sleep(0.05)
    res.unanswered += 1
    return None


async def _writer(cs: list[httpx.AsyncClient], w: int, seeded: Seeded, res: KillResult, stop: float) -> None:
    rng = random.Random(w)
    org, own = seeded.own_lots[w % len(seeded.own_lots)]
    lots = [own, seeded.shared_lots[org]]
    n = 0
    while time.monotonic() < stop:
        n += 1
        key = f"w{w}-{n}"
        path, body = _body(rng, lots, key, batch=n % 4 == 0)
        headers = {"Authorization": f"Bearer {seeded.tokens[org]}", "Idempotency-Key": key}
        r = await _send(cs, w, path, body, headers, res)
        if r is None:
            continue
        res.statuses[r.status_code] += 1
        if r.status_code != 201:
            continue
        data = r.json()
        items = data["recorded"] if "recorded" in data else [data]
        acks = [Ack(str(i["lot"]), int(i["seq"]), int(i["index"]), str(i["leaf_hash"])) for i in items]
        if r.headers.get("idempotent-replayed") == "true":
            res.replayed += 1
        if key in res.acks and res.acks[key] != acks:
            res.mismatched.append(key)
        res.acks[key] = acks


async def run(urls: list[str], seeded: Seeded, *, seconds: float, writers: int, kill: Callable[[], None]) -> KillResult:
    """Drive ``writers`` over ``urls``; call ``kill`` half way through."""
    res = KillResult()
    clients = [httpx.AsyncClient(base_url=u, timeout=30.0) for u in urls]
    try:
        stop = time.monotonic() + seconds

        async def killer() -> None:
            await asyncio.sleep(seconds / 2)
            await asyncio.to_thread(kill)

        await asyncio.gather(killer(), *(_writer(clients, w, seeded, res, stop) for w in range(writers)))
    finally:
        for c in clients:
            await c.aclose()
    return res


def notes_stored_twice(led: Ledger) -> list[str]:
    """Notes (one per event of a keyed request) that the log holds more than once."""
    with read_tx(led.engine) as conn:
        events = [json.loads(e) for (e,) in conn.execute(select(_entry.c.event))]
    counts = Counter(str(e["ilmd"]["note"]) for e in events if isinstance(e.get("ilmd"), dict) and "note" in e["ilmd"])
    return sorted(n for n, k in counts.items() if k > 1)
