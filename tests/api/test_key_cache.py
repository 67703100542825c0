"""The append routes' API-key cache: no query per write, and revocation still takes effect at once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from api.services import KeyCache
from ledger.service import Principal
from ledger.store import apikeys
from ledger.store.db import write_tx
from tests.api.conftest import LOT_A_PATH, World, event

URL = f"/api/v1/lots/{LOT_A_PATH}/events"


def services(world: World) -> Any:
    return world.client.app.state.services  # type: ignore[attr-defined]


def key_id(world: World, who: str) -> str:
    return str(world.client.get("/api/v1/me", headers=world.auth(who)).json()["key_id"])


def test_a_verified_key_is_not_looked_up_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    led = services(world).ledger
    calls: list[str] = []
    real = led.authenticate

    def counted(token: str) -> Principal | None:
        calls.append(token)
        return real(token)

    monkeypatch.setattr(led, "authenticate", counted)
    for _ in range(3):
        assert world.client.post(URL, json=event(), headers=world.auth("a")).status_code == 201
    assert len(calls) == 1


def test_a_key_revoked_in_another_process_is_refused_at_the_next_write(world: World) -> None:
    """Revoked in the database directly (``ocop-ledger api-keys revoke``, another worker): the cache
    still holds the key, and the batch's own check refuses the write; nothing is stored."""
    assert world.client.post(URL, json=event(), headers=world.auth("a")).status_code == 201
    with write_tx(world.ledger.engine) as conn:
        apikeys.revoke(conn, key_id(world, "a"))
    before = world.counts()
    r = world.client.post(URL, json=event(), headers=world.auth("a"))
    assert r.status_code == 401, r.text
    assert r.json()["error"] == {"code": "unauthorized", "message": "invalid or revoked API key"}
    assert r.headers["www-authenticate"] == "Bearer"
    assert world.counts() == before
    batch = {"events": [{"lot": LOT_A_PATH.replace("%2F", "/"), "event": event()}]}
    assert world.client.post("/api/v1/events:batch", json=batch, headers=world.auth("a")).status_code == 401


def test_a_key_revoked_through_the_admin_route_leaves_the_cache_at_once(world: World) -> None:
    assert world.client.post(URL, json=event(), headers=world.auth("a")).status_code == 201
    kid = key_id(world, "a")
    assert services(world).keys.get(KeyCache.digest(world.tokens["a"])) is not None
    r = world.client.post(f"/api/v1/admin/api-keys/{kid}/revoke", headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    assert services(world).keys.get(KeyCache.digest(world.tokens["a"])) is None
    assert world.client.post(URL, json=event(), headers=world.auth("a")).status_code == 401


def test_the_cache_forgets_after_its_ttl_and_stays_bounded() -> None:
    now = [100.0]
    cache = KeyCache(ttl=5.0, size=2, clock=lambda: now[0])
    who = [Principal(f"ak_{n}", n, f"org-{n}", "cooperative", "producer") for n in range(3)]
    cache.put(b"a", who[0])
    now[0] += 4.9
    assert cache.get(b"a") == who[0]
    now[0] += 0.1
    assert cache.get(b"a") is None
    cache.put(b"a", who[0])
    cache.put(b"b", who[1])
    cache.put(b"c", who[2])  # over the size: the oldest goes
    assert [cache.get(k) for k in (b"a", b"b", b"c")] == [None, who[1], who[2]]
    cache.forget("ak_1")
    assert cache.get(b"b") is None
    assert KeyCache(ttl=0).put(b"a", who[0]) is None and KeyCache(ttl=0).get(b"a") is None


def test_the_append_routes_come_first_and_shadow_no_other_route(world: World) -> None:
    """The app matches the append routes before all others (they carry the write load), which is
    only right while no other route's path and method could match theirs."""
    app: Any = world.client.app

    def walk(routes: Any) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            elif hasattr(r, "effective_route_contexts"):
                out += [
                    c.original_route for c in r.effective_route_contexts() if isinstance(c.original_route, APIRoute)
                ]
        return out

    routes = walk(app.router.routes)
    hot = routes[:3]
    assert {r.path for r in hot} == {
        "/api/v1/lots/{lot_id:path}/events",
        "/api/v1/events:batch",
        "/api/v1/epcis/capture",
    }
    for r in routes[3:]:
        sample = re.sub(r"\{[^}]+\}", "x", r.path)
        assert not any((r.methods & h.methods) and h.path_regex.match(sample) for h in hot), r.path
