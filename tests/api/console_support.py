"""Helpers for the console tests: accounts in the world's organizations and a signed-in client."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.console.web import Web
from ledger.service.console import Console

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORD = "mat-khau-dai-1"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def console_of(client: TestClient) -> Console:
    """The app's console facade (built now, with a fast argon2 for the tests)."""
    state: Any = client.app.state  # type: ignore[attr-defined]
    if getattr(state, "console_web", None) is None:
        state.console_web = Web(state.services)
        state.console_web.console.hasher = FAST
    console: Console = state.console_web.console
    return console


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; returns the session's CSRF token."""
    page = client.get("/console/signin")
    r = client.post(
        "/console/signin",
        data={"csrf": csrf_of(page.text), "login": login, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    return csrf_of(client.get("/console").text)
