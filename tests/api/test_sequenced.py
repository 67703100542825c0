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
