"""``api.fastpath``: the single-event append answered ahead of FastAPI gives the route's own answers.

Every case is sent twice: through an app whose key cache is warm (the fast path takes what it
can) and through one with ``auth_cache_ttl=0`` (no key is ever cached, so FastAPI's route answers
everything). Status, headers and body must agree, apart from what differs between two appends
(index, seq, leaf hash); and neither may store anything for a refused request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api import sequenced
from tests.api.conftest import GTIN_A, LOT_A, LOT_A_PATH, World, build_world, event

URL = f"/api/v1/lots/{LOT_A_PATH}/events"
APPEND_FIELDS = {"lot", "seq", "index", "leaf_hash", "signer", "recordTime"}
COMPARED_HEADERS = (
    "content-type",
    "idempotent-replayed",
    "www-authenticate",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-resource-policy",
    "content-security-policy",
)


@pytest.fixture
def both(ledger: Any, app_factory: Any) -> Iterator[tuple[World, World]]:
    """(fast, slow): two apps on one ledger; the slow one never caches a key."""
    with app_factory() as fast_client, app_factory(auth_cache_ttl=0) as slow_client:
        fast = build_world(ledger, fast_client)
        slow = World(ledger, slow_client, fast.tokens, fast.orgs)
        yield fast, slow


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the requests FastAPI's route answered (``sequenced.record`` is the route's way in)."""
    seen: list[str] = []
    real = sequenced.record

    async def spy(request: Any, *args: Any, **kw: Any) -> Any:
        seen.append(request.url.path)
        return await real(request, *args, **kw)

    monkeypatch.setattr(sequenced, "record", spy)
    return seen


Post = Callable[[World], Any]


def _raw(body: bytes, ctype: str = "application/json", who: str = "a", **headers: str) -> Post:
    return lambda w: w.client.post(URL, content=body, headers={**w.auth(who), "Content-Type": ctype, **headers})


def _json(doc: Any, who: str = "a", url: str = URL, **headers: str) -> Post:
    return lambda w: w.client.post(url, json=doc, headers={**(w.auth(who) if who else {}), **headers})


def _bad_signature_entry(w: World) -> Any:
    entry = {
        "lot": LOT_A,
        "seq": 1,
        "prev": "00" * 32,
        "event": event(),
        "signer": "ed25519:" + "ab" * 32,
        "sig": base64.b64encode(b"\0" * 64).decode(),
        "v": 1,
    }
    return _json({"entry": entry})(w)


CASES: dict[str, Post] = {
    "a valid event": _json(event()),
    "an event with a note": _json(event(ilmd={"note": "giao hàng sáng"})),
    "an unknown bizStep": _json(event(step="levitating")),
    "a missing eventTime": _json({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing"}),
    "an eventTime without a zone": _json(event(time="2026-07-02T06:30:00")),
    "a control character in a field": _json(event(bizLocation={"name": "kho\x00"})),
    "an unknown top-level field": _json({**event(), "surprise": 1}),
    "a client entry with a bad signature": _bad_signature_entry,
    "a bad lot id": _json(event(), url="/api/v1/lots/123.X/events"),
    "a bad GTIN check digit": _json(event(), url=f"/api/v1/lots/{GTIN_A[:-1]}9.PH/events"),
    "an unknown lot": _json(event(), url=f"/api/v1/lots/{GTIN_A}.NO-SUCH-LOT/events"),
    "another producer's lot": _json(event(), who="b"),
    "an exporter's step on a lot": _json(event(step="shipping"), who="exporter"),
    "an admin key": _json(event(), who="admin"),
    "malformed JSON": _raw(b'{"type": "ObjectEvent",'),
    "a JSON array": _raw(b"[1, 2]"),
    "a JSON string": _raw(b'"storing"'),
    "invalid UTF-8": _raw(b'{"type": "\xff"}'),
    "text/plain": _raw(json.dumps(event()).encode(), ctype="text/plain"),
    "application/json with a charset": _raw(json.dumps(event()).encode(), ctype="application/json; charset=utf-8"),
    "too deep": _raw(b'{"a":' * 80 + b"1" + b"}" * 80),
    "no API key": _json(event(), who=""),
    "an unknown API key": lambda w: w.client.post(URL, json=event(), headers={"Authorization": "Bearer ocop_nope"}),
    "a Basic authorization": lambda w: w.client.post(URL, json=event(), headers={"Authorization": "Basic YTpi"}),
    "a malformed Idempotency-Key": _json(event(), **{"Idempotency-Key": "has space"}),
}

ROUTE_ONLY = {  # what the fast path leaves to FastAPI (see api.fastpath)
    "malformed JSON",
    "a JSON array",
    "a JSON string",
    "invalid UTF-8",
    "text/plain",
    "too deep",
    "no API key",
    "an unknown API key",
    "a Basic authorization",
}


def _answer(r: Any) -> tuple[int, dict[str, str], Any]:
    headers = {h: r.headers[h] for h in COMPARED_HEADERS if h in r.headers}
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if r.status_code == 201:
        assert set(body) == APPEND_FIELDS, body
        body = {k: v for k, v in body.items() if k in ("lot", "signer", "recordTime")}
    return r.status_code, headers, body


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_gets_the_routes_answer(case: str, both: tuple[World, World], routed: list[str]) -> None:
    fast, slow = both
    for who in ("a", "b", "exporter", "admin"):  # warm the fast app's cache through the route
        assert fast.client.post(URL, json=[], headers=fast.auth(who)).status_code in (403, 422)
    routed.clear()
    before = fast.counts()
    got_fast = _answer(CASES[case](fast))
    fast_routed = list(routed)
    stored_fast = fast.counts()
    got_slow = _answer(CASES[case](slow))
    stored_slow = slow.counts()
    assert got_fast == got_slow, case
    added = 1 if got_fast[0] == 201 else 0
    assert stored_fast == (before[0] + added, *before[1:])
    assert stored_slow == (stored_fast[0] + added, *stored_fast[1:])
    if case not in ROUTE_ONLY:  # the fast app answered it itself; the slow one through the route
        slow_calls = 0 if case in ("a bad lot id", "a bad GTIN check digit") else 1  # refused before the call
        assert fast_routed == [] and len(routed) == slow_calls, (fast_routed, routed)
    else:
        assert fast_routed == routed, (fast_routed, routed)  # both went on to FastAPI


def test_a_cached_key_skips_the_route(world: World, routed: list[str]) -> None:
    r1 = world.client.post(URL, json=event(), headers=world.auth("a"))
    r2 = world.client.post(URL, json=event(), headers=world.auth("a"))
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert routed == [URL]  # the first, to verify the key; the second was the fast path's
    assert r2.json()["seq"] == r1.json()["seq"] + 1


def test_idempotency_key_replays_across_both_ways(world: World, routed: list[str]) -> None:
    """A first send through the route (key not cached yet), a resend through the fast path: the
    fingerprint is taken the same way (the lot's encoded '/' included), so the resend replays."""
    key = {"Idempotency-Key": "harvest-2026-07-02-0001"}
    first = world.client.post(URL, json=event(), headers={**world.auth("a"), **key})
    before = world.counts()
    again = world.client.post(URL, json=event(), headers={**world.auth("a"), **key})
    assert routed == [URL]
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert world.counts() == before
    other = world.client.post(URL, json=event(step="receiving"), headers={**world.auth("a"), **key})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused", other.text
    assert world.counts() == before


def test_metrics_carry_the_routes_label(world: World) -> None:
    for _ in range(2):
        assert world.client.post(URL, json=event(), headers=world.auth("a")).status_code == 201
    text = world.client.get("/metrics").text
    line = next(ln for ln in text.splitlines() if ln.startswith("ocop_http_requests_total{") and "/events" in ln)
    assert 'route="/api/v1/lots/{lot_id:path}/events"' in line and 'status="201"' in line
    assert line.endswith(" 2.0"), line
