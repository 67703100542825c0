"""Console and scan page with photos in an S3-compatible bucket (a real S3-protocol server on 127.0.0.1):
a photo goes to the bucket and is shown; a swapped object is tampered; an unreachable bucket is a
clear 503 that stores nothing, and the resent submission is then recorded exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.service import Ledger
from tests.api.conftest import LOT_A, World, api_settings, build_world, make_settings
from tests.api.console_support import JPEG, PASSWORD, console_of, sign_in
from tests.s3_server import S3Server, s3, s3_settings

__all__ = ["s3"]  # the fixture

SCAN = "/01/08930000045676/10/PH%2F2026-07"
DIGEST = hashlib.sha256(JPEG).hexdigest()


@pytest.fixture
def s3_world(ledger: Ledger, tmp_path: Path, s3: S3Server) -> Iterator[tuple[World, str, S3Server, str]]:
    bucket = s3.new_bucket()
    settings = make_settings(tmp_path, **s3_settings(s3, bucket, photo_s3_prefix="p/"))
    app = create_app(settings, ledger=ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        w = build_world(ledger, client)
        console_of(client).create_account("org-a", "0912345678", PASSWORD, role="owner")
        yield w, sign_in(client, "0912345678"), s3, bucket


def post_harvest(c: TestClient, csrf: str, headers: dict[str, str] | None = None) -> Any:
    data = {"csrf": csrf, "lot": LOT_A, "step": "ocop:harvesting", "quantity": "10", "unit": "KGM"}
    data["event_time"] = "2026-07-02T06:30"
    files = [("photos", ("a.jpg", JPEG, "image/jpeg"))]
    return c.post("/console/event", data=data, files=files, headers=headers or {}, follow_redirects=False)


def test_a_photo_goes_to_the_bucket_and_shows_on_the_pages(s3_world: tuple[World, str, S3Server, str]) -> None:
    w, csrf, s3, bucket = s3_world
    assert post_harvest(w.client, csrf).status_code == 303
    assert post_harvest(w.client, csrf).status_code == 303  # a second event with the same photo
    listing = s3.client().list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == [f"p/{DIGEST[:2]}/{DIGEST}"]
    assert not (Path(w.client.app.state.services.settings.data_dir) / "photos").exists()  # type: ignore[attr-defined]
    r = w.client.get(f"/photos/{DIGEST}")
    assert r.status_code == 200 and r.content == JPEG and r.headers["content-type"] == "image/jpeg"
    assert f'src="/photos/{DIGEST}"' in w.client.get(SCAN).text


def test_a_swapped_object_is_tampered_on_the_scan_page_and_the_photo_route(
    s3_world: tuple[World, str, S3Server, str],
) -> None:
    w, csrf, s3, bucket = s3_world
    post_harvest(w.client, csrf)
    s3.client().put_object(Bucket=bucket, Key=f"p/{DIGEST[:2]}/{DIGEST}", Body=JPEG[:-1] + b"\x00")
    scan = w.client.get(SCAN)
    assert 'data-photo="tampered"' in scan.text and "Ảnh đã bị thay đổi sau khi ký" in scan.text
    assert f'src="/photos/{DIGEST}"' not in scan.text
    r = w.client.get(f"/photos/{DIGEST}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "photo_tampered"
    lot_page = w.client.get(f"/console/lot?id={LOT_A.replace('/', '%2F')}")
    assert 'data-photo="tampered"' in lot_page.text


def test_an_unreachable_bucket_is_a_clear_503_and_no_acknowledged_event_is_lost(
    s3_world: tuple[World, str, S3Server, str],
) -> None:
    w, csrf, s3, bucket = s3_world
    post_harvest(w.client, csrf)
    before = w.counts()
    s3.stop()
    try:
        page = post_harvest(w.client, csrf)  # the form, without JavaScript
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "Kho ảnh tạm thời không truy cập được. Chưa lưu gì" in page.text
        queued = {"Idempotency-Key": "q-0001", "Accept": "application/json"}  # the offline queue's resend
        r = post_harvest(w.client, csrf, queued)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert "nothing was recorded, retry later" in r.json()["error"]["message"]
        assert w.counts() == before  # nothing acknowledged, nothing stored
        photo = w.client.get(f"/photos/{DIGEST}")
        assert photo.status_code == 503 and photo.json()["error"]["code"] == "unavailable"
        scan = w.client.get(SCAN)
        assert scan.status_code == 200 and 'data-photo="unavailable"' in scan.text
        assert 'data-photo="tampered"' not in scan.text  # unreachable is never reported as tampered
    finally:
        s3.start()
    first = post_harvest(w.client, csrf, queued)
    again = post_harvest(w.client, csrf, queued)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert w.counts()[0] == before[0] + 1  # recorded exactly once once the bucket is back
