"""Every door that parses untrusted JSON bounds its depth first: HTTP bodies of every content type,
bundle files for verify-bundle, event files for the CLI (issue 9, reproduction 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import World
from tests.api.test_inputs import assert_error
from tests.cli.test_cli import run  # noqa: F401  (the CLI fixture)

DEEP = b"[" * 70_000 + b"]" * 70_000


@pytest.mark.parametrize(
    "url,content_type",
    [
        ("/api/v1/epcis/capture", "application/ld+json"),
        ("/api/v1/epcis/capture", "application/json"),
        ("/api/v1/events:batch", "application/json"),
        ("/api/v1/products", "text/plain"),
        ("/api/v1/admin/organizations", "application/json"),
    ],
)
def test_deep_bodies_are_refused_with_or_without_a_key(world: World, url: str, content_type: str) -> None:
    before = world.counts()
    for headers in ({}, world.auth("a")):
        r = world.client.post(url, content=DEEP, headers={**headers, "Content-Type": content_type})
        assert_error(r, 400, "too_deep")
    assert world.counts() == before


def test_verify_bundle_refuses_a_deep_file(run: Any, tmp_path: Path) -> None:  # noqa: F811
    f = tmp_path / "deep.json"
    f.write_bytes(DEEP)
    r = run("verify-bundle", str(f), "--rpc", "http://127.0.0.1:9", "--json")
    assert r.exit_code == 1
    failure = json.loads(r.output)["failure"]
    assert failure["check"] == "format" and "nests too deep" in failure["message"]


def test_cli_event_file_refuses_a_deep_file(run: Any, tmp_path: Path) -> None:  # noqa: F811
    assert run("org", "create", "HTX Công Bằng Thuận An", "--slug", "htx-thuan-an").exit_code == 0
    f = tmp_path / "ev.json"
    f.write_bytes(DEEP)
    r = run("event", "add", "htx-thuan-an", "08930000000026.CF-1", "--file", str(f))
    assert r.exit_code != 0 and "nests too deep" in r.output
