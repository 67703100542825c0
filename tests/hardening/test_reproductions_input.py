"""Issue 9, input side, against the real server in a subprocess (``ocop-ledger serve``).

1. A 140 KB body of nested brackets crashed the process (SIGSEGV in the C JSON decoder once web3
   had raised the recursion limit): now a 400 JSON error, and the server stays up.
6. A ~100 KB request line got uvicorn's text/plain 400: now the JSON error body (414).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from ledger.service import Ledger
from tests.hardening import server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    data = tmp_path_factory.mktemp("input-server")
    url = f"sqlite:///{data / 'ledger.db'}"
    Ledger.open(server.settings(data, url)).engine.dispose()
    with server.Server(data, url, data) as srv:
        yield srv


def _alive(srv: server.Server) -> None:
    assert srv.proc is not None and srv.proc.poll() is None, srv.text()
    assert httpx.get(srv.url + "/healthz", timeout=5).status_code == 200


def _raw(srv: server.Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize("depth", [70_000, 50_000, 65])
def test_deeply_nested_body_without_key_is_refused_and_server_stays_up(live: server.Server, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    r = httpx.post(
        f"{live.url}/api/v1/lots/08930000045676.ANY/events",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "too_deep"
    assert f"got {depth}" in r.json()["error"]["message"]
    _alive(live)


def test_deep_body_without_content_type_is_refused_too(live: server.Server) -> None:
    r = httpx.post(f"{live.url}/api/v1/events:batch", content=b"{" + b'"a":{' * 70_000, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_deep", r.text
    _alive(live)


def test_brackets_inside_strings_do_not_count(live: server.Server) -> None:
    body = b'{"type": "' + b"[" * 10_000 + b'"}'
    r = httpx.post(
        f"{live.url}/api/v1/lots/08930000045676.ANY/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401, r.text  # parsed, then refused for the missing key: not too deep


def test_long_request_line_gets_json_error(live: server.Server) -> None:
    status, headers, body = _raw(live, b"GET /api/v1/lots/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414
    assert headers["content-type"] == "application/json"
    assert httpx.Response(status, content=body).json()["error"]["code"] == "uri_too_long"
    _alive(live)


def test_garbage_request_gets_json_error(live: server.Server) -> None:
    status, headers, body = _raw(live, b"\x00\x01 nonsense\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert httpx.Response(status, content=body).json()["error"]["code"] == "bad_request"
    _alive(live)


def test_composition_root_caps_the_recursion_limit() -> None:
    import sys

    import web3  # noqa: F401  (raises the limit through py_ecc)

    from ledger.runtime import SANE_RECURSION_LIMIT, settle_recursion_limit

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        assert settle_recursion_limit() == SANE_RECURSION_LIMIT
        assert sys.getrecursionlimit() == SANE_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)
