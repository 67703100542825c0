"""POST /api/v1/events:batch: thousands per call, all or nothing, every error listed."""

from __future__ import annotations

from tests.api.conftest import GTIN_B, LOT_A, World, event


def test_thousands_of_events_in_one_call(world: World) -> None:
    items = [{"lot": LOT_A, "event": event("storing")} for _ in range(2500)]
    r = world.client.post("/api/v1/events:batch", json={"events": items}, headers=world.auth("a"))
    assert r.status_code == 201, r.text[:500]
    recorded = r.json()["recorded"]
    assert len(recorded) == 2500
    assert [x["seq"] for x in recorded] == list(range(1, 2501))
    assert [x["index"] for x in recorded] == list(range(recorded[0]["index"], recorded[0]["index"] + 2500))


def test_one_bad_event_stores_none_and_all_errors_are_listed(world: World) -> None:
    before = world.counts()
    items = [{"lot": LOT_A, "event": event("storing")} for _ in range(10)]
    items[3] = {"lot": LOT_A, "event": event("dancing")}
    items[7] = {"lot": LOT_A, "event": event(time="2026-07-02")}
    r = world.client.post("/api/v1/events:batch", json={"events": items}, headers=world.auth("a"))
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert {d["index"] for d in details} == {3, 7}
    assert world.counts() == before


def test_unknown_lot_in_a_batch_stores_none(world: World) -> None:
    before = world.counts()
    items = [{"lot": LOT_A, "event": event()}, {"lot": f"{GTIN_B}.NOPE", "event": event()}]
    r = world.client.post("/api/v1/events:batch", json={"events": items}, headers=world.auth("a"))
    assert r.status_code == 422
    assert "unknown lot" in r.json()["error"]["message"]
    assert world.counts() == before


def test_forbidden_item_in_a_batch_stores_none(world: World) -> None:
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_B, "code": "CB-1"}, headers=world.auth("b"))
    assert r.status_code == 201
    before = world.counts()
    items = [{"lot": LOT_A, "event": event()}, {"lot": f"{GTIN_B}.CB-1", "event": event()}]
    r = world.client.post("/api/v1/events:batch", json={"events": items}, headers=world.auth("a"))
    assert r.status_code == 403
    assert [d["index"] for d in r.json()["error"]["details"]] == [1]
    assert world.counts() == before


def test_batch_shape_errors(world: World) -> None:
    before = world.counts()
    for body in ({"events": []}, {"events": [{"lot": LOT_A}]}, {"events": [{"lot": LOT_A, "event": {}, "x": 1}]}, {}):
        r = world.client.post("/api/v1/events:batch", json=body, headers=world.auth("a"))
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "invalid_input"
    too_many = {"events": [{"lot": LOT_A, "event": event()}] * 5001}
    assert world.client.post("/api/v1/events:batch", json=too_many, headers=world.auth("a")).status_code == 422
    assert world.counts() == before
