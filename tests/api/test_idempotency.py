"""``Idempotency-Key`` on writes (issue 9, reproduction 8), on SQLite and PostgreSQL.

A resend with the same key gets the first answer and stores nothing; the same key with another
body is 422; keys are per organization; concurrent duplicates store exactly once; bad keys are 4xx.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ledger.errors import ConflictError
from ledger.store.db import read_tx, write_tx
from ledger.store.idempotency import IdempotencyMismatch, fingerprint
from ledger.store.models import IdempotencyRecord
from tests.api.conftest import GTIN_A, LOT_A, LOT_A_PATH, World, event

_rec: Any = IdempotencyRecord.__table__


def post(world: World, who: str, path: str, body: Any, key: str | bytes | None) -> Any:
    headers: dict[str, Any] = world.auth(who) | ({"Idempotency-Key": key} if key is not None else {})
    return world.client.post(path, json=body, headers=headers)


def records(world: World) -> int:
    with read_tx(world.ledger.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(_rec)).scalar_one())


def test_same_key_twice_stores_once_and_replays_the_first_answer(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()
    first = post(world, "a", path, event("storing"), "ev-0001")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = post(world, "a", path, event("storing"), "ev-0001")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert world.counts() == (before[0] + 1, before[1], before[2])
    assert records(world) == 1


def test_without_a_key_each_post_stores(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()
    for _ in range(2):
        assert post(world, "a", path, event("storing"), None).status_code == 201
    assert world.counts()[0] == before[0] + 2
    assert records(world) == 0


def test_same_key_with_another_body_is_422_and_stores_nothing(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    assert post(world, "a", path, event("storing"), "k-1").status_code == 201
    before = world.counts()
    r = post(world, "a", path, event("inspecting"), "k-1")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert "different request" in r.json()["error"]["message"]
    assert world.counts() == before


def test_other_organizations_may_use_the_same_key(world: World) -> None:
    ra = post(
        world,
        "a",
        "/api/v1/lots",
        {"gtin": GTIN_A, "code": "IDEM-A", "event_time": "2026-07-01T06:30:00+07:00"},
        "shared",
    )
    rb = post(world, "b", "/api/v1/products", {"gtin": "08930000000026", "name_vi": "Trà"}, "shared")
    assert (ra.status_code, rb.status_code) == (201, 201), (ra.text, rb.text)
    assert "idempotent-replayed" not in rb.headers
    assert records(world) == 2


def test_batch_epcis_and_admin_writes_are_idempotent(world: World) -> None:
    batch = {"events": [{"lot": LOT_A, "event": event("storing")}, {"lot": LOT_A, "event": event("packing")}]}
    first = post(world, "a", "/api/v1/events:batch", batch, "batch-1")
    before = world.counts()
    again = post(world, "a", "/api/v1/events:batch", batch, "batch-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and world.counts() == before
    org = {"name": "HTX Dừa Bến Tre", "slug": "htx-dua", "kind": "cooperative"}
    o1 = post(world, "admin", "/api/v1/admin/organizations?api_key_role=producer", org, "org-1")
    o2 = post(world, "admin", "/api/v1/admin/organizations?api_key_role=producer", org, "org-1")
    assert (o1.status_code, o2.status_code) == (201, 201), o2.text
    assert o2.json()["api_key"]["token"] == o1.json()["api_key"]["token"]  # one org, one key, not a 409
    keys = world.client.get("/api/v1/admin/organizations/htx-dua/api-keys", headers=world.auth("admin")).json()
    assert len(keys) == 1


def test_a_refused_write_keeps_no_record_and_its_retry_is_checked_again(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()
    bad = {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing", "eventTime": "yesterday"}
    assert post(world, "a", path, bad, "k-bad").status_code == 422
    assert post(world, "a", path, bad, "k-bad").status_code == 422
    assert "idempotent-replayed" not in post(world, "a", path, bad, "k-bad").headers
    assert world.counts() == before and records(world) == 0


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "ümlaut".encode(), "semi;colon", '"'])
def test_bad_keys_are_refused_with_a_json_4xx(world: World, key: str | bytes) -> None:
    before = world.counts()
    r = post(world, "a", f"/api/v1/lots/{LOT_A_PATH}/events", event("storing"), key)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert "Idempotency-Key" in r.json()["error"]["message"]
    assert world.counts() == before


def test_a_quoted_key_and_a_255_character_key_are_accepted(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    assert post(world, "a", path, event("storing"), '"quoted-1"').status_code == 201
    assert post(world, "a", path, event("storing"), "quoted-1").headers["idempotent-replayed"] == "true"
    assert post(world, "a", path, event("storing"), "k" * 255).status_code == 201


def test_an_expired_record_is_forgotten(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    assert post(world, "a", path, event("storing"), "old").status_code == 201
    with write_tx(world.ledger.engine) as conn:
        conn.execute(update(_rec).values(expires_at=world.ledger.clock() - timedelta(seconds=1)))
    before = world.counts()
    r = post(world, "a", path, event("storing"), "old")
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert world.counts()[0] == before[0] + 1 and records(world) == 1


def test_concurrent_duplicates_store_exactly_once(world: World) -> None:
    path = f"/api/v1/lots/{LOT_A_PATH}/events"
    before = world.counts()
    results: list[Any] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        results.append(post(world, "a", path, event("storing"), "race-1"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert set(codes) <= {201, 409}, [r.text for r in results]
    fresh = [r for r in results if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    for r in results:
        if r.status_code == 201:
            assert r.content == fresh[0].content
        else:
            assert r.json()["error"]["code"] == "conflict" and "in flight" in r.json()["error"]["message"]
    assert world.counts()[0] == before[0] + 1


def test_ledger_claim_rolls_back_with_the_write(world: World) -> None:
    led = world.ledger
    org_id = int(world.orgs["a"]["id"])
    fp = fingerprint("POST", "/x", "", b"{}")
    before = world.counts()
    with pytest.raises(ConflictError, match="exists already"), led.idempotent(org_id, "k-roll", fp) as claim:
        assert claim.replay is None
        led.create_lot("org-a", {"gtin": GTIN_A, "code": "ROLL-1", "event_time": "2026-07-01T06:30:00+07:00"})
        led.create_lot("org-a", {"gtin": GTIN_A, "code": "ROLL-1", "event_time": "2026-07-01T06:30:00+07:00"})
    assert world.counts() == before and records(world) == 0
    with led.idempotent(org_id, "k-roll", fp) as claim:
        assert claim.replay is None
        led.create_lot("org-a", {"gtin": GTIN_A, "code": "ROLL-2", "event_time": "2026-07-01T06:30:00+07:00"})
        from ledger.store.idempotency import Answer

        claim.complete(Answer(201, "application/json", b'{"ok":1}'))
    with led.idempotent(org_id, "k-roll", fp) as claim:
        assert claim.replay is not None and claim.replay.body == b'{"ok":1}'
    with pytest.raises(IdempotencyMismatch, match="different request"), led.idempotent(org_id, "k-roll", "0" * 64):
        pass


def test_pack_and_csv_import_are_idempotent(world: World) -> None:
    pack = {"lots": [LOT_A], "event_time": "2026-07-08T09:00:00+07:00"}
    path = "/api/v1/shipments/089300000000000019/pack"
    first = post(world, "a", path, pack, "pack-1")
    before = world.counts()
    again = post(world, "a", path, pack, "pack-1")
    assert (first.status_code, again.status_code) == (200, 200), (first.text, again.text)
    assert again.json() == first.json() and world.counts() == before
    csv = f"lot,event_type,action,biz_step,event_time\n{LOT_A},ObjectEvent,OBSERVE,storing,2026-07-09T06:30:00+07:00\n"
    headers = world.auth("a") | {"Idempotency-Key": "csv-1", "Content-Type": "text/csv"}
    r1 = world.client.post("/api/v1/import", content=csv.encode(), headers=headers)
    r2 = world.client.post("/api/v1/import", content=csv.encode(), headers=headers)
    assert (r1.status_code, r2.status_code) == (200, 200), (r1.text, r2.text)
    assert r2.headers["idempotent-replayed"] == "true" and r2.json() == r1.json()
    assert world.counts()[0] == before[0] + 1
