"""Secrets and keys: nothing secret in logs, errors or responses; the master key gates start-up;
security headers, a strict CSP and no CORS.

A scenario (organizations created with an API key, signing keys generated and revoked, events,
bad/wrong/revoked API keys, malformed input, errors) runs in-process with every logger captured at
DEBUG and against a real ``ocop-ledger serve`` whose stderr is captured. The secrets looked for:
every server-held private key (decrypted here with the master key: raw seed as hex and base64,
and its sealed blob as base64), every API key token (its id may appear, never the secret part),
and the master key (raw hex and base64).
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from ledger.core import signing
from ledger.errors import ConfigError
from ledger.service import Ledger
from ledger.store.db import read_tx
from ledger.store.models import SigningKey
from tests.api.conftest import LOT_A, LOT_A_PATH, World, api_settings, event, make_settings
from tests.hardening import server
from tests.hardening.lab import MASTER_KEY

pytestmark = pytest.mark.hardening
ONLY_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
_key = SigningKey.__table__  # type: ignore[attr-defined]


def secrets_of(led: Ledger, tokens: list[str]) -> dict[str, str]:
    """Every secret the server holds, in the forms it could leak in: name → text."""
    out = {"master hex": MASTER_KEY.hex(), "master b64": base64.b64encode(MASTER_KEY).decode()}
    with read_tx(led.engine) as conn:
        rows = conn.execute(select(_key.c.key_id, _key.c.sealed_private_key)).all()
    assert rows
    for kid, sealed in rows:
        if sealed is None:
            continue
        seed = signing.open_private_key(MASTER_KEY, bytes(sealed), kid)
        out[f"{kid} seed hex"] = seed.hex()
        out[f"{kid} seed b64"] = base64.b64encode(seed).decode()
        out[f"{kid} seed b64url"] = base64.urlsafe_b64encode(seed).decode().rstrip("=")
        out[f"{kid} sealed b64"] = base64.b64encode(bytes(sealed)).decode()
    for t in tokens:
        out[f"token {t[:20]}"] = t
        secret = t[len("ocop_ak_") + 13 :]  # ocop_ak_<12 hex>_<secret>; the secret may contain '_'
        assert len(secret) >= 40, t
        out[f"token secret {t[:20]}"] = secret
    return out


def assert_no_secret(texts: list[str], secrets: dict[str, str]) -> None:
    blob = "\n".join(texts)
    leaked = [name for name, s in secrets.items() if s in blob]
    assert not leaked, f"secrets found in logs/responses: {leaked}"


def scenario(world: World, bodies: list[str]) -> list[str]:
    """Drive the API through keys, events and errors; return every API token seen."""
    c, admin = world.client, world.auth("admin")

    def keep(r: httpx.Response) -> httpx.Response:
        bodies.append(r.text)
        bodies.extend(f"{k}: {v}" for k, v in r.headers.items())
        return r

    r = keep(
        c.post(
            "/api/v1/admin/organizations?api_key_role=producer",
            json={"name": "HTX Mới", "slug": "htx-moi"},
            headers=admin,
        )
    )
    assert r.status_code == 201, r.text
    new_token = r.json()["api_key"]["token"]
    bodies.pop(-1 - len(r.headers))  # the one response that must show the new token, once
    r = keep(c.post("/api/v1/admin/organizations/htx-moi/api-keys", json={"role": "producer"}, headers=admin))
    assert r.status_code == 201
    second = r.json()["token"]
    bodies.pop(-1 - len(r.headers))
    keep(c.get("/api/v1/admin/organizations/htx-moi/api-keys", headers=admin))
    keep(c.get("/api/v1/admin/organizations/htx-moi", headers=admin))
    world.ledger.generate_key("org-a")  # rotation: a second server-held key
    keep(c.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event("ocop:harvesting"), headers=world.auth("a")))
    keep(c.post("/api/v1/events:batch", json={"events": [{"lot": LOT_A, "event": event()}]}, headers=world.auth("a")))
    for bad in ("garbage", new_token[:-3] + "abc", "ocop_ak_", second + "x", f"Bearer {new_token}"):
        r = keep(c.post("/api/v1/events:batch", json={"events": []}, headers={"Authorization": f"Bearer {bad}"}))
        assert r.status_code == 401
    key_id = second.split("_")[2]
    keep(c.post(f"/api/v1/admin/api-keys/ak_{key_id}/revoke", headers=admin))
    r = keep(c.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event(), headers={"Authorization": f"Bearer {second}"}))
    assert r.status_code == 401
    keep(c.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event(), headers=world.auth("b")))  # 403
    keep(
        c.post(
            f"/api/v1/lots/{LOT_A_PATH}/events",
            content=b"{not json",
            headers={**world.auth("a"), "Content-Type": "application/json"},
        )
    )
    keep(c.post("/api/v1/events:batch", json={"events": [{"lot": "nope", "event": {}}]}, headers=world.auth("a")))
    keep(c.get(f"/api/v1/lots/{LOT_A_PATH}/bundle"))
    keep(c.get(f"/api/v1/lots/{LOT_A_PATH}/verify"))
    keep(c.get("/api/v1/log/entries?start=0&end=50"))
    keep(c.get("/api/v1/me", headers=world.auth("a")))
    keep(c.get("/metrics"))
    return [*world.tokens.values(), new_token, second]


@ONLY_SQLITE
def test_no_secret_in_logs_errors_or_responses(world: World, caplog: pytest.LogCaptureFixture) -> None:
    bodies: list[str] = []
    names = ("", "ocop", "ocop.api", "ocop.api.access", "ledger", "uvicorn", "sqlalchemy", "httpx")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        with caplog.at_level(logging.DEBUG):
            for name in names:
                logging.getLogger(name).setLevel(logging.DEBUG)
            tokens = scenario(world, bodies)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    logs = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 10  # the request log lines were captured
    secrets = secrets_of(world.ledger, tokens)
    assert len([s for s in secrets if "seed hex" in s]) >= 6
    assert_no_secret(logs + bodies, secrets)
    assert any("ak_" in b for b in bodies)  # key ids are shown, just not the secret part


@pytest.mark.slow
def test_no_secret_in_a_real_servers_stderr(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    led = Ledger.open(server.settings(tmp_path, url))
    try:
        seeded = server.seed(led, orgs=2, lots_per_org=1)
        bodies: list[str] = []
        with (
            server.Server(tmp_path, url, tmp_path, LEDGER_LOG_REQUESTS="true") as srv,
            httpx.Client(base_url=srv.url) as c,
        ):
            tok = next(iter(seeded.tokens.values()))
            lot = seeded.own_lots[0][1]
            for auth in (tok, tok + "x", "junk", seeded.inspector):
                r = c.post(
                    f"/api/v1/lots/{lot}/events", json=event("storing"), headers={"Authorization": f"Bearer {auth}"}
                )
                bodies.append(r.text)
            bodies.append(c.post("/api/v1/events:batch", content=b"[", headers={"Authorization": f"Bearer {tok}"}).text)
            bodies.append(c.get(f"/api/v1/lots/{lot}/bundle").text)
        stderr = srv.text()
        assert "POST" in stderr or "/api/v1" in stderr  # request lines were logged
        assert_no_secret([stderr, *bodies], secrets_of(led, [*seeded.tokens.values(), seeded.inspector]))
    finally:
        led.engine.dispose()


# --- the master key gates start-up ------------------------------------------------------------


def test_missing_or_wrong_master_key_stops_the_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.open(server.settings(tmp_path, url)).engine.dispose()  # a ledger sealed under MASTER_KEY
    wrong = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ConfigError, match="master key is wrong"):
        create_app(make_settings(tmp_path, database_url=url, master_key=wrong), api_settings=api_settings())
    with pytest.raises(ConfigError, match="master key missing"):
        create_app(make_settings(tmp_path, database_url=url), api_settings=api_settings())


@pytest.mark.slow
@pytest.mark.parametrize("master", ["wrong", "missing", "malformed"])
def test_serve_refuses_to_start_without_the_right_master_key(tmp_path: Path, master: str) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.open(server.settings(tmp_path, url)).engine.dispose()
    env = server.server_env(tmp_path, url)
    if master == "wrong":
        env["LEDGER_MASTER_KEY"] = base64.b64encode(bytes(32)).decode()
    elif master == "malformed":
        env["LEDGER_MASTER_KEY"] = "not base64!"
    else:
        del env["LEDGER_MASTER_KEY"]
    exe = Path(sys.executable).with_name("ocop-ledger")
    res = subprocess.run(
        [str(exe), "serve", "--port", str(server.free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    expect = {"wrong": "master key is wrong", "missing": "master key missing", "malformed": "not valid base64"}[master]
    assert expect in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert server.MASTER_KEY_B64 not in res.stderr + res.stdout


# --- headers, CSP, CORS ------------------------------------------------------------------------


@ONLY_SQLITE
def test_security_headers_strict_csp_and_no_cors(world: World) -> None:
    c = world.client
    g, code = LOT_A_PATH.split(".", 1)
    page = c.get(f"/01/{g}/10/{code}", headers={"Accept": "text/html"})
    api = c.get(f"/api/v1/lots/{LOT_A_PATH}")
    err = c.get("/api/v1/lots/nope.x")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for r in (page, api, err):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]
        assert (
            r.headers.get("x-frame-options") == "DENY"
            or "frame-ancestors 'none'" in r.headers["content-security-policy"]
        )
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    evil = {"Origin": "https://evil.example"}
    for r in (
        c.get(f"/api/v1/lots/{LOT_A_PATH}", headers=evil),
        c.post("/api/v1/events:batch", json={"events": []}, headers={**evil, **world.auth("a")}),
    ):
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
    pre = c.options(
        "/api/v1/events:batch",
        headers={**evil, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert pre.status_code in (400, 404, 405), pre.status_code
    assert "access-control-allow-origin" not in pre.headers and "access-control-allow-methods" not in pre.headers
