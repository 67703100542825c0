"""EPCIS 2.0 REST bindings under /epcis: queries, paging, discovery, versions, capture jobs.

Every query answer is validated against GS1's EPCIS 2.0 JSON schema (tests/data/epcis); filters are
checked against a plain reference filter over the whole event list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from ledger.exports import epcis
from ledger.store.db import read_tx
from tests.api.conftest import GTIN_A, LOT_A, World, event
from tests.api.test_epcis import LOT_URI, doc, object_event
from tests.exports.test_epcis import errors as schema_errors

SGLN = "urn:epc:id:sgln:8930000.00001.0"
SGLN_DL = "https://id.gs1.org/414/8930000000019"  # the same GLN as a Digital Link
SSCC = "urn:epc:id:sscc:0893000.0000000017"
VERSIONS = {"gs1-epcis-version": "2.0.0", "gs1-cbv-version": "2.0.0"}


@pytest.fixture
def logged(world: World) -> World:
    a = world.auth("a")
    path = f"/api/v1/lots/{GTIN_A}.PH%2F2026-07/events"
    for ev in (
        event("storing", "2026-07-02T06:30:00+07:00", readPoint={"id": SGLN}),
        event("ocop:cooling", "2026-07-02T08:00:00+07:00"),
        event("shipping", "2026-07-03T01:00:00Z", disposition="in_transit", bizLocation={"id": SGLN}),
    ):
        assert world.client.post(path, json=ev, headers=a).status_code == 201
    aggregation = {
        "type": "AggregationEvent",
        "action": "ADD",
        "bizStep": "packing",
        "eventTime": "2026-07-02T09:00:00+07:00",
        "parentID": SSCC,
        "childQuantityList": [{"epcClass": LOT_URI, "quantity": 400, "uom": "KGM"}],
    }
    assert world.client.post("/api/v1/epcis/capture", json=doc(aggregation), headers=a).status_code == 201
    return world


def _query(world: World, query: str = "", status: int = 200, **headers: str) -> Any:
    res = world.client.get(f"/epcis/events{query}", headers=headers)
    assert res.status_code == status, res.text
    if status == 200:
        assert {k: res.headers[k] for k in VERSIONS} == VERSIONS
        body = res.json()
        assert schema_errors(body) == [], schema_errors(body)
        assert body["type"] == "EPCISQueryDocument"
    return res


def _events(res: Any) -> list[dict[str, Any]]:
    return list(res.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def _all(world: World, query: str = "") -> list[dict[str, Any]]:
    """Every page of a query, following Link rel=next."""
    url, out = f"/epcis/events{query}", []
    while url:
        res = world.client.get(url)
        assert res.status_code == 200, res.text
        assert schema_errors(res.json()) == []
        out += _events(res)
        link = res.headers.get("link")
        url = ""
        if link:
            assert link.endswith('>; rel="next"')
            parts = urlsplit(link[1 : link.index(">")])
            url = f"{parts.path}?{parts.query}"
    return out


def _utc(t: str) -> datetime:
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


def test_all_events_schema_valid_with_their_hash_ids(logged: World) -> None:
    got = _events(_query(logged))
    with read_tx(logged.ledger.engine) as conn:
        exported = epcis.lot_document(conn, LOT_A)["epcisBody"]["eventList"]
    assert [e["eventID"] for e in got] == [e["eventID"] for e in exported]
    assert len(got) == 5 and [e["ocop:logIndex"] for e in got] == sorted(e["ocop:logIndex"] for e in got)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("?eventType=AggregationEvent", lambda e: e["type"] == "AggregationEvent"),
        ("?eventType=ObjectEvent|TransformationEvent", lambda e: e["type"] == "ObjectEvent"),
        ("?EQ_bizStep=shipping", lambda e: e["bizStep"] == "shipping"),
        ("?EQ_bizStep=https://ref.gs1.org/cbv/BizStep-storing", lambda e: e["bizStep"] == "storing"),
        ("?EQ_bizStep=ocop:cooling&EQ_bizStep=packing", lambda e: e["bizStep"] in ("ocop:cooling", "packing")),
        ("?EQ_disposition=in_transit", lambda e: e.get("disposition") == "in_transit"),
        (f"?EQ_readPoint={SGLN}", lambda e: e.get("readPoint", {}).get("id") == SGLN),
        (f"?EQ_bizLocation={quote(SGLN_DL)}", lambda e: e.get("bizLocation", {}).get("id") == SGLN),
        (
            "?GE_eventTime=2026-07-02T00:00:00Z&LT_eventTime=2026-07-02T09:00:00%2B07:00",
            lambda e: _utc("2026-07-02T00:00:00Z") <= _utc(e["eventTime"]) < _utc("2026-07-02T09:00:00+07:00"),
        ),
        ("?GE_recordTime=2099-01-01T00:00:00Z", lambda e: False),
        ("?LT_recordTime=2099-01-01T00:00:00Z", lambda e: True),
        (f"?MATCH_anyEPC={SSCC}", lambda e: e.get("parentID") == SSCC),
        (f"?MATCH_epc={SSCC}", lambda e: False),
        (
            "?MATCH_epcClass=urn:epc:class:lgtin:8930000.004567.PH%252F2026-07",
            lambda e: bool(e.get("quantityList") or e.get("childQuantityList")),
        ),
        (f"?MATCH_anyEPCClass={quote(LOT_URI.replace('id.gs1.org', 'id.gs1.de'))}", lambda e: "uantityList" in str(e)),
        ("?MATCH_epcClass=https://id.gs1.org/01/08930000045676/10/OTHER", lambda e: False),
        ("?EQ_action=ADD", lambda e: e.get("action") == "ADD"),
    ],
)
def test_filters_match_a_reference_filter(logged: World, query: str, keep: Any) -> None:
    everything = _events(_query(logged))
    expected = [e["eventID"] for e in everything if keep(e)]
    assert [e["eventID"] for e in _events(_query(logged, query))] == expected


def test_match_epc_class_names_the_lot_of_events_recorded_without_quantities(logged: World) -> None:
    got = _events(_query(logged, f"?MATCH_epcClass={quote(LOT_URI)}&EQ_bizStep=ocop:cooling"))
    assert [e["bizStep"] for e in got] == ["ocop:cooling"]


def test_pages_follow_link_next_and_cover_every_event_once(logged: World) -> None:
    everything = [e["eventID"] for e in _events(_query(logged))]
    first = _query(logged, "?perPage=2")
    assert len(_events(first)) == 2 and 'rel="next"' in first.headers["link"]
    paged = [e["eventID"] for e in _all(logged, "?perPage=2")]
    assert paged == everything
    assert [e["eventID"] for e in _all(logged, "?perPage=1&orderDirection=DESC")] == everything[::-1]
    last = _query(logged, "?perPage=500")
    assert "link" not in last.headers


def test_a_page_token_is_bound_to_its_query(logged: World) -> None:
    link = _query(logged, "?perPage=1&eventType=ObjectEvent").headers["link"]
    token = link[link.index("nextPageToken=") + len("nextPageToken=") : link.index(">")]
    res = _query(logged, f"?perPage=1&eventType=AggregationEvent&nextPageToken={token}", status=400)
    assert res.json()["type"] == "epcisException:QueryParameterException"
    assert "issued for another query" in res.json()["error"]["message"]
    _query(logged, "?nextPageToken=not-a-token", status=400)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("?colour=red", "unknown"),
        ("?EQ_quantity=5", "not supported"),
        ("?eventCountLimit=5", "not supported"),
        ("?GE_eventTime=2026-07-02T00:00:00", "time zone"),
        ("?GE_eventTime=yesterday", "RFC 3339"),
        ("?perPage=0", "perPage"),
        ("?perPage=100000", "perPage"),
        ("?eventType=ShippingEvent", "eventType"),
        ("?EQ_bizStep=", "empty value"),
        ("?orderBy=eventTime", "orderBy"),
        ("?orderDirection=UP", "orderDirection"),
    ],
)
def test_bad_query_parameters_are_400_query_parameter_exceptions(logged: World, query: str, needle: str) -> None:
    body = _query(logged, query, status=400).json()
    assert body["type"] == "epcisException:QueryParameterException" and body["status"] == 400
    assert body["error"]["code"] == "query_parameter" and needle in body["error"]["message"]


def test_event_by_its_hash_id(logged: World) -> None:
    one = _events(_query(logged, "?eventType=AggregationEvent"))[0]
    res = logged.client.get(f"/epcis/events/{quote(one['eventID'], safe='')}")
    assert res.status_code == 200 and schema_errors(res.json()) == []
    assert _events(res) == [one] and res.headers["gs1-epcis-version"] == "2.0.0"
    bare = logged.client.get(f"/epcis/events/{one['eventID']}")  # "?ver=CBV2.0" sent unencoded
    assert _events(bare) == [one]
    missing = logged.client.get("/epcis/events/" + quote("ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0", safe=""))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert missing.json()["type"] == "epcisException:NoSuchResourceException"


def test_events_appended_after_a_query_are_found_by_the_next(logged: World) -> None:
    before = len(_events(_query(logged)))
    path = f"/api/v1/lots/{GTIN_A}.PH%2F2026-07/events"
    later = event("receiving", "2026-07-04T08:00:00+07:00")
    assert logged.client.post(path, json=later, headers=logged.auth("exporter")).status_code == 201
    got = _events(_query(logged, "?EQ_bizStep=receiving"))
    assert len(got) == 1 and len(_events(_query(logged))) == before + 1


def _members(world: World, path: str, status: int = 200) -> Any:
    res = world.client.get(path)
    assert res.status_code == status, res.text
    if status == 200:
        assert res.json()["type"] == "Collection" and res.headers["gs1-cbv-version"] == "2.0.0"
        return res.json()["member"]
    return res.json()


def test_discovery_lists(logged: World) -> None:
    assert set(_members(logged, "/epcis")) >= {"events", "capture", "eventTypes", "bizSteps", "epcs"}
    assert "ObjectEvent" in _members(logged, "/epcis/eventTypes")
    steps = _members(logged, "/epcis/bizSteps?perPage=500")
    assert {"shipping", "receiving", "ocop:harvesting"} <= set(steps)
    assert "in_transit" in _members(logged, "/epcis/dispositions?perPage=500")
    assert _members(logged, "/epcis/readPoints") == [SGLN_DL]
    assert _members(logged, "/epcis/bizLocations") == [SGLN_DL]
    assert LOT_URI in _members(logged, "/epcis/epcs")


def test_discovery_pages(logged: World) -> None:
    first = logged.client.get("/epcis/bizSteps?perPage=3")
    assert len(first.json()["member"]) == 3 and 'rel="next"' in first.headers["link"]
    link = first.headers["link"]
    second = logged.client.get(
        urlsplit(link[1 : link.index(">")]).path + "?" + urlsplit(link[1 : link.index(">")]).query
    )
    assert second.json()["member"][0] not in first.json()["member"]
    assert _members(logged, "/epcis/bizSteps?colour=red", status=400)["type"].endswith("QueryParameterException")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"GS1-EPCIS-Min": "3.0.0"}, 406),
        ({"GS1-EPCIS-Max": "1.2.0"}, 406),
        ({"GS1-CBV-Min": "2.1.0"}, 406),
        ({"GS1-EPCIS-Min": "1.2.0", "GS1-EPCIS-Max": "2.0.0"}, 200),
        ({"GS1-CBV-Max": "2.0"}, 200),
        ({"GS1-EPCIS-Min": "two"}, 406),
    ],
)
def test_version_negotiation(logged: World, headers: dict[str, str], status: int) -> None:
    res = logged.client.get("/epcis/events", headers=headers)
    assert res.status_code == status, res.text
    if status == 406:
        assert res.json()["type"] == "epcisException:NotAcceptableException"


def test_capture_job_success(logged: World) -> None:
    before = logged.counts()
    ev = object_event(bizStep="https://ref.gs1.org/cbv/BizStep-inspecting", recordTime=None)
    ev.pop("recordTime")
    res = logged.client.post("/epcis/capture", json=doc(ev), headers=logged.auth("a"))
    assert res.status_code == 202 and res.headers["gs1-epcis-version"] == "2.0.0", res.text
    job = logged.client.get(res.headers["location"], headers=logged.auth("a"))
    assert job.status_code == 200
    body = job.json()
    assert (body["running"], body["success"], body["errors"], body["captureErrorBehaviour"]) == (
        False,
        True,
        [],
        "rollback",
    )
    assert body["captureID"] == res.json()["captureID"] and logged.counts()[0] == before[0] + 1
    assert len(_events(_query(logged, "?EQ_bizStep=inspecting"))) == 1


def test_capture_job_failure_stores_nothing(logged: World) -> None:
    before = logged.counts()
    good = object_event()
    bad = object_event(
        quantityList=[{"epcClass": f"https://id.gs1.org/01/{GTIN_A}/10/NOPE", "quantity": 1, "uom": "KGM"}]
    )
    res = logged.client.post("/epcis/capture", json=doc(good, bad), headers=logged.auth("a"))
    assert res.status_code == 202
    body = logged.client.get(res.headers["location"], headers=logged.auth("a")).json()
    assert (body["running"], body["success"]) == (False, False)
    assert body["errors"] and all(e["type"] == "epcisException:ValidationException" for e in body["errors"])
    assert any("unknown lot" in e["title"] for e in body["errors"]), body["errors"]
    assert logged.counts() == before


def test_capture_needs_a_key_and_jobs_stay_with_their_organization(logged: World) -> None:
    assert logged.client.post("/epcis/capture", json=doc(object_event())).status_code == 401
    res = logged.client.post("/epcis/capture", json=doc(object_event()), headers=logged.auth("a"))
    other = logged.client.get(res.headers["location"], headers=logged.auth("b"))
    assert other.status_code == 404
    assert logged.client.get("/epcis/capture/capnope", headers=logged.auth("a")).status_code == 404
    proceed = {"GS1-Capture-Error-Behaviour": "proceed"} | logged.auth("a")
    assert logged.client.post("/epcis/capture", json=doc(object_event()), headers=proceed).status_code == 406
    options = logged.client.options("/epcis/capture")
    assert options.status_code == 204 and options.headers["gs1-capture-error-behaviour"] == "rollback"
