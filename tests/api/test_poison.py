"""Issue 9, stored poison: every value the append path refuses, and every value it accepts can be read.

Each poison once answered 201 and then broke reads for good (500s on the lot, the log pages, the
exports). Now each gets a 4xx JSON error and stores nothing; and whatever is accepted is served
by the lot, log, verify and scan-page routes without a 5xx. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import GTIN_A, LOT_A_PATH, LOT_CODE, World, event
from tests.api.test_inputs import assert_error

EVENTS = f"/api/v1/lots/{LOT_A_PATH}/events"


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


POISON = [
    ("ilmd-300-deep", event(ilmd=nested(300)), 400, "too_deep"),
    ("ilmd-40-deep", event(ilmd=nested(40)), 422, "invalid_input"),
    ("year-1-with-offset", event(time="0001-01-01T00:00:00+14:00"), 422, "invalid_input"),
    ("year-9999-overflows-utc", event(time="9999-12-31T23:00:00-05:00"), 422, "invalid_input"),
    ("year-1899", event(time="1899-12-31T23:00:00+00:00"), 422, "invalid_input"),
    ("nul-in-location-name", event(bizLocation={"id": "urn:x", "name": "Vườn\x00"}), 422, "invalid_input"),
    ("vt-in-location-name", event(bizLocation={"id": "urn:x", "name": "a\x0bb"}), 422, "invalid_input"),
    ("c1-in-read-point", event(readPoint={"id": "urn:x\x85"}), 422, "invalid_input"),
    ("del-in-epc", event(epcList=["urn:epc:\x7f"]), 422, "invalid_input"),
    ("nul-in-ilmd-key", event(ilmd={"k\x00": "v"}), 422, "invalid_input"),
    ("esc-in-ilmd-value", event(ilmd={"k": ["\x1b[31m"]}), 422, "invalid_input"),
    ("newline-in-biz-transaction", event(bizTransactionList=[{"type": "po", "bizTransaction": "a\nb"}]), 422, None),
    ("nul-in-note", event(**{"ocop:note": "a\x00"}), 422, "invalid_input"),
]


@pytest.mark.parametrize("name,body,status,code", POISON, ids=[p[0] for p in POISON])
def test_poison_is_refused_and_stores_nothing(world: World, name: str, body: Any, status: int, code: str) -> None:
    before = world.counts()
    r = world.client.post(EVENTS, json=body, headers=world.auth("a"))
    assert_error(r, status, code)
    r = world.client.post(
        "/api/v1/events:batch",
        json={"events": [{"lot": f"{GTIN_A}.{LOT_CODE}", "event": body}]},
        headers=world.auth("inspector"),
    )
    assert 400 <= r.status_code < 500, r.text
    assert world.counts() == before


def test_lone_surrogate_is_refused(world: World) -> None:
    before = world.counts()
    raw = json.dumps(event(ilmd={"k": "x"})).replace('"x"', '"\\ud800"')
    r = world.client.post(EVENTS, content=raw, headers={**world.auth("a"), "Content-Type": "application/json"})
    assert_error(r, 422, "invalid_input")
    assert "U+D800" in r.json()["error"]["message"]
    assert world.counts() == before


def test_free_text_note_keeps_tab_and_newline(world: World) -> None:
    r = world.client.post(EVENTS, json=event(**{"ocop:note": "dòng 1\ndòng 2\tcột"}), headers=world.auth("a"))
    assert r.status_code == 201, r.text
    lot = world.client.get(f"/api/v1/lots/{LOT_A_PATH}").json()
    assert any(e["entry"]["event"].get("ocop:note") == "dòng 1\ndòng 2\tcột" for e in lot["entries"])


def test_deep_but_allowed_ilmd_is_served(world: World) -> None:
    r = world.client.post(EVENTS, json=event(ilmd=nested(20)), headers=world.auth("a"))
    assert r.status_code == 201, r.text
    _reads_succeed(world)


def _reads_succeed(world: World) -> None:
    for url in (
        f"/api/v1/lots/{LOT_A_PATH}",
        f"/api/v1/lots/{LOT_A_PATH}/verify",
        "/api/v1/log/entries?start=0&end=1000",
        f"/01/{GTIN_A}/10/{LOT_A_PATH.split('.', 1)[1]}",
    ):
        r = world.client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])


_json_text = st.text(max_size=12)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), _json_text)
_json = st.recursive(
    _json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(_json_text, kids, max_size=3)),
    max_leaves=12,
)
_times = st.sampled_from(
    ["2026-07-02T06:30:00+07:00", "1900-01-01T00:00:00+00:00", "1900-01-01T00:00:00+14:00", "2026-07-02T06:30:00Z"]
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_json_text, note=st.text(max_size=20), ilmd=st.dictionaries(_json_text, _json, max_size=3), time=_times)
def test_whatever_is_accepted_can_be_read(world: World, name: str, note: str, ilmd: Any, time: str) -> None:
    body = event(time=time, bizLocation={"id": "urn:ocop:loc:1", "name": name or "x"}, ilmd=ilmd)
    body["ocop:note"] = note
    r = world.client.post(EVENTS, json=body, headers=world.auth("a"))
    assert r.status_code < 500, r.text
    if r.status_code != 201:
        assert r.headers["content-type"].startswith("application/json") and "error" in r.json()
        return
    _reads_succeed(world)
