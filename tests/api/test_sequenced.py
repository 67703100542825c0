"""The append routes through the sequencer: concurrent requests, each answered on its own, and metrics."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from ledger.store.db import read_tx
from ledger.store.models import LogEntry
from tests.api.conftest import LOT_A, LOT_A_PATH, World, event

_entry: Any = LogEntry.__table__


def test_concurrent_writers_each_get_their_own_answer(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()[0]
    bodies: list[tuple[str, Any]] = [("a", event("storing", **{"ocop:note": str(n)})) for n in range(12)]
    bodies += [("a", event("no-such-step")), ("b", event("storing"))]  # invalid; another organization's lot

    def send(who_body: tuple[str, Any]) -> Any:
        return world.client.post(path, json=who_body[1], headers=world.auth(who_body[0]))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, bodies))
    assert [a.status_code for a in answers] == [201] * 12 + [422, 403], [a.text for a in answers[-2:]]
    assert answers[-2].json()["error"]["code"] == "invalid_input"
    indexes = sorted(a.json()["index"] for a in answers[:12])
    assert indexes == list(range(before, before + 12))
    assert sorted(a.json()["seq"] for a in answers[:12]) == list(range(1, 13))
    with read_tx(world.ledger.engine) as conn:
        assert [r.idx for r in conn.execute(select(_entry.c.idx).order_by(_entry.c.idx))] == list(range(before + 12))
    assert world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()["verdict"] == "pending"


def test_batch_and_capture_answers_are_unchanged_through_the_sequencer(world: World) -> None:
    body = {"events": [{"lot": LOT_A, "event": event("storing")}, {"lot": LOT_A, "event": event("packing")}]}
    r = world.client.post("/api/v1/events:batch", json=body, headers=world.auth("a"))
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    assert [e["seq"] for e in r.json()["recorded"]] == [1, 2]
    assert set(r.json()["recorded"][0]) == {"lot", "seq", "index", "leaf_hash", "signer", "recordTime"}


def test_sequencer_metrics_appear(world: World) -> None:
    for _ in range(3):
        r = world.client.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event(), headers=world.auth("a"))
        assert r.status_code == 201
    text = world.client.get("/metrics").text
    counts = {
        name: float(m.group(1))
        for name in ("batch_events", "batch_requests", "queue_wait_seconds", "commit_seconds")
        if (m := re.search(rf"^ocop_sequencer_{name}_count (\S+)$", text, re.M))
    }
    assert counts["batch_events"] >= 1 and counts["commit_seconds"] == counts["batch_events"]
    assert counts["queue_wait_seconds"] == 3
    assert re.search(r"^ocop_sequencer_batch_events_sum 3\.0$", text, re.M)


def test_a_request_the_policy_refuses_fails_alone_with_403(world: World) -> None:
    """No route pre-authorizes: the inspector's key is refused a packing step inside the append
    (ledger.core.policy), with the error body, while concurrent writers' events commit."""
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()[0]
    bodies = [("a", event("storing")), ("inspector", event("packing")), ("inspector", event("inspecting"))] * 3

    def send(who_body: tuple[str, Any]) -> Any:
        return world.client.post(path, json=who_body[1], headers=world.auth(who_body[0]))

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, bodies))
    assert [a.status_code for a in answers] == [201, 403, 201] * 3, [a.text for a in answers]
    refused = answers[1].json()["error"]
    assert refused["code"] == "forbidden" and "may not record packing on another organization" in refused["message"]
    assert world.counts()[0] == before + 6
    r = world.client.post(
        "/api/v1/events:batch", json={"events": [{"lot": LOT_A, "event": event("packing")}]}, headers=world.auth("b")
    )
    assert r.status_code == 403 and r.json()["error"]["details"][0]["index"] == 0
    assert world.counts()[0] == before + 6


def test_the_loop_is_woken_once_for_a_whole_batch_of_results() -> None:
    import asyncio
    import threading
    from concurrent.futures import Future

    from api.sequenced import _woken
    from ledger.sequencer import GroupResult

    wakeups: list[int] = []

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counted(*args: Any, **kw: Any) -> Any:
            wakeups.append(1)
            return real(*args, **kw)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        futures: list[Future[GroupResult]] = [Future() for _ in range(5)]
        waiting = [asyncio.ensure_future(_woken(f)) for f in futures]
        await asyncio.sleep(0)

        def commit() -> None:  # the sequencer thread settles a batch in one go
            for i, f in enumerate(futures[:4]):
                if i == 3:
                    f.set_exception(ValueError("refused"))
                else:
                    f.set_result(GroupResult(recorded=[{"i": i}]))

        t = threading.Thread(target=commit)
        t.start()
        t.join()
        done = await asyncio.gather(*waiting[:4], return_exceptions=True)
        assert len(wakeups) == 1  # four results, one wake-up
        waiting[4].cancel()
        await asyncio.gather(waiting[4], return_exceptions=True)
        assert futures[4].cancelled()  # a waiter that gave up cancels its request
        return done

    done = asyncio.run(main())
    assert [getattr(r, "recorded", None) for r in done[:3]] == [[{"i": 0}], [{"i": 1}], [{"i": 2}]]
    assert isinstance(done[3], ValueError)
