"""Product master data beyond names (issue 11): zh/ja names, brand, net content and images, end to end.

Every fact is in the product's signed entry; an update is the next version and a lot's page shows the
version in force at its commissioning; an edited row is ``tampered``, naming the fact.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from ledger.exports import certificate
from ledger.service import Ledger
from ledger.store.db import write_tx
from ledger.store.models import Product
from tests.api.conftest import GTIN_A, add_org, api_settings, make_settings


def png(seed: int) -> bytes:
    """A real 1×1 PNG (the pixel's colour from ``seed``)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(b"\x00" + bytes([seed % 256, 80, 160]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")


@pytest.fixture
def world(v2_ledger: Ledger, tmp_path: Path) -> Any:
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        _, producer = add_org(v2_ledger, "HTX Phú Hội", "htx-phu-hoi", "cooperative", "producer")
        _, inspector = add_org(v2_ledger, "Quatest 3", "quatest-3", "inspector", "inspector")
        yield client, {"Authorization": f"Bearer {producer}"}, {"Authorization": f"Bearer {inspector}"}


def upload(client: TestClient, auth: dict[str, str], data: bytes) -> dict[str, Any]:
    r = client.post("/api/v1/products/images", content=data, headers=auth | {"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def product(images: list[str], **kw: Any) -> dict[str, Any]:
    return {
        "gtin": GTIN_A,
        "name_vi": "Thanh long ruột đỏ Phú Hội",
        "name_en": "Phu Hoi red dragon fruit",
        "name_zh": "富会红心火龙果",
        "name_ja": "フーホイ産レッドドラゴンフルーツ",
        "brand": "Phú Hội",
        "net_content": {"value": 500, "unit": "GRM"},
        "images": images,
        **kw,
    }


def test_images_are_stored_by_their_sha256(world: Any) -> None:
    client, prod, inspector = world
    data = png(1)
    assert upload(client, prod, data) == {"sha256": hashlib.sha256(data).hexdigest(), "media_type": "image/png"}
    assert upload(client, prod, data)["sha256"] == hashlib.sha256(data).hexdigest()  # same bytes, same name
    r = client.post("/api/v1/products/images", content=b"%PDF-1.7 not an image", headers=prod)
    assert r.status_code == 422 and "JPEG, PNG or WebP" in r.json()["error"]["message"]
    assert client.post("/api/v1/products/images", content=b"", headers=prod).status_code == 422
    assert client.post("/api/v1/products/images", content=data, headers=inspector).status_code == 403
    assert client.post("/api/v1/products/images", content=data).status_code == 401


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"net_content": {"value": "500", "unit": "GRM"}}, "net_content.value"),
        ({"net_content": {"value": True, "unit": "GRM"}}, "net_content.value"),
        ({"net_content": {"value": 0, "unit": "GRM"}}, "net_content.value"),
        ({"net_content": {"value": 500, "unit": "gram"}}, "net_content.unit"),
        ({"net_content": {"value": 500}}, "net_content.unit"),
        ({"net_content": {"value": 500, "unit": "GRM", "note": "x"}}, "net_content.note"),
        ({"net_content": 500}, "net_content"),
        ({"images": ["AB" * 32]}, "images.0"),
        ({"images": ["ab" * 31]}, "images.0"),
        ({"images": ["cd" * 32]}, "images.0"),  # well formed, never uploaded
        ({"name_zh": ""}, "name_zh"),
        ({"brand": "x" * 201}, "brand"),
        ({"name_ko": "용과"}, "name_ko"),
    ],
)
def test_bad_product_facts_are_422_naming_the_field(world: Any, change: dict[str, Any], where: str) -> None:
    client, prod, _ = world
    r = client.post("/api/v1/products", json=product([]) | change, headers=prod)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert where in (err.get("field") or "") + " " + err["message"], err
    assert client.get(f"/api/v1/lots/{GTIN_A}.X/verify").status_code in (200, 404)


def test_facts_are_signed_versioned_and_shown_as_at_commissioning(world: Any, v2_ledger: Ledger) -> None:
    client, prod, _ = world
    first, second = upload(client, prod, png(1)), upload(client, prod, png(2))
    r = client.post("/api/v1/products", json=product([first["sha256"]]), headers=prod)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["brand"] == "Phú Hội" and made["net_content"] == {"value": 500, "unit": "GRM"}
    assert made["images"] == [first] and made["name_zh"] == "富会红心火龙果"
    assert client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "PH-1"}, headers=prod).status_code == 201
    newer = product([second["sha256"], first["sha256"]], brand="Phú Hội Farm", net_content={"value": 1, "unit": "KGM"})
    r = client.put(f"/api/v1/products/{GTIN_A}", json=newer, headers=prod)
    assert r.status_code == 200 and r.json()["brand"] == "Phú Hội Farm"
    assert client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "PH-2"}, headers=prod).status_code == 201

    old = client.get(f"/01/{GTIN_A}/10/PH-1?lang=en", headers={"Accept": "text/html"}).text
    new = client.get(f"/01/{GTIN_A}/10/PH-2?lang=en", headers={"Accept": "text/html"}).text
    assert '<dd data-fact="brand">Phú Hội</dd>' in old and '<dd data-fact="net_content">500 g</dd>' in old
    assert '<dd data-fact="brand">Phú Hội Farm</dd>' in new and '<dd data-fact="net_content">1 kg</dd>' in new
    assert old.count('data-photo="ok"') == 1 and f'src="/photos/{first["sha256"]}"' in old
    assert new.count('data-photo="ok"') == 2 and new.index(second["sha256"]) < new.index(first["sha256"])
    assert "<h1>Phu Hoi red dragon fruit</h1>" in old
    zh = client.get(f"/01/{GTIN_A}/10/PH-1?lang=zh", headers={"Accept": "text/html"}).text
    assert '<h1 lang="zh">富会红心火龙果</h1>' in zh and "Producer" in zh  # the page itself in English
    ja = client.get(f"/01/{GTIN_A}/10/PH-1", headers={"Accept": "text/html", "Accept-Language": "ja-JP,en;q=0.5"})
    assert '<h1 lang="ja">フーホイ産レッドドラゴンフルーツ</h1>' in ja.text
    vi = client.get(f"/01/{GTIN_A}/10/PH-1", headers={"Accept": "text/html", "Accept-Language": "vi,zh;q=0.5"})
    assert "<h1>Thanh long ruột đỏ Phú Hội</h1>" in vi.text

    for lot in ("PH-1", "PH-2"):
        assert client.get(f"/api/v1/lots/{GTIN_A}.{lot}/verify").json()["verdict"] == "pending"
    old_cert = certificate.build(v2_ledger, base_url="https://x.vn", lot=f"{GTIN_A}.PH-1").products[0]
    new_cert = certificate.build(v2_ledger, base_url="https://x.vn", lot=f"{GTIN_A}.PH-2").products[0]
    assert (old_cert["brand"], old_cert["net_content"]) == ("Phú Hội", "500 GRM")
    assert (new_cert["brand"], new_cert["net_content"]) == ("Phú Hội Farm", "1 KGM")
    pdf = certificate.render(certificate.build(v2_ledger, base_url="https://x.vn", lot=f"{GTIN_A}.PH-1"))
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("column", "value", "fact"),
    [
        ("name_zh", "假火龙果", "product name (Chinese)"),
        ("name_ja", "偽物", "product name (Japanese)"),
        ("brand", "Hãng khác", "brand"),
        ("net_content", {"value": 1000, "unit": "GRM"}, "net content"),
        ("images", [], "product images"),
        ("images", [{"sha256": "ab" * 32, "media_type": "image/png"}], "product images"),
    ],
)
def test_an_edited_fact_is_tampered_naming_it(
    world: Any, v2_ledger: Ledger, column: str, value: Any, fact: str
) -> None:
    client, prod, _ = world
    image = upload(client, prod, png(3))
    assert client.post("/api/v1/products", json=product([image["sha256"]]), headers=prod).status_code == 201
    assert client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "PH-1"}, headers=prod).status_code == 201
    t = Product.__table__  # type: ignore[attr-defined]
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(t).where(t.c.gtin == GTIN_A).values({column: value}))
    r = client.get(f"/api/v1/lots/{GTIN_A}.PH-1/verify").json()
    assert r["verdict"] == "tampered", r
    assert r["failure"]["check"] == "record" and r["failure"]["message"].startswith(f"{fact} differs from the signed")
