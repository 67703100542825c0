"""Issue 9, reproductions 3 and 6 (input side): text fields, references, shipment and CSV bodies,
lot codes with '/' or a quote, dates as strings only, documented content types. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from email.message import Message
from typing import Any
from urllib.parse import unquote

import pytest

from api.headers import attachment
from tests.api.conftest import GTIN_A, LOT_A, LOT_A_PATH, World
from tests.api.test_inputs import assert_error

SSCC = "089300000000000019"
NUL_BODIES = [
    ("product-name", "/api/v1/products", "a", {"gtin": "08930000000026", "name_vi": "Cà phê\x00"}),
    (
        "product-cert",
        "/api/v1/products",
        "a",
        {"gtin": "08930000000026", "name_vi": "x", "certifications": [{"scheme": "Viet\x00GAP"}]},
    ),
    ("lot-province", "/api/v1/lots", "a", {"gtin": GTIN_A, "code": "N-1", "origin_province": "Lâm\x00Đồng"}),
    ("lot-c1", "/api/v1/lots", "a", {"gtin": GTIN_A, "code": "N-2", "origin_commune": "x\x9b"}),
    ("org-name", "/api/v1/admin/organizations", "admin", {"name": "HTX\x00"}),
    ("org-province", "/api/v1/admin/organizations", "admin", {"name": "HTX mới", "province": "\x00"}),
    ("api-key-label", "/api/v1/admin/organizations/org-a/api-keys", "admin", {"role": "producer", "label": "E\x00RP"}),
]


@pytest.mark.parametrize("name,url,who,body", NUL_BODIES, ids=[b[0] for b in NUL_BODIES])
def test_control_characters_in_text_fields(world: World, name: str, url: str, who: str, body: Any) -> None:
    before = world.counts()
    orgs = world.client.get("/api/v1/admin/organizations", headers=world.auth("admin")).json()
    keys = world.client.get("/api/v1/admin/organizations/org-a/api-keys", headers=world.auth("admin")).json()
    err = assert_error(world.client.post(url, json=body, headers=world.auth(who)), 422, "invalid_input")
    assert "control characters" in err["message"]
    assert world.counts() == before
    assert world.client.get("/api/v1/admin/organizations", headers=world.auth("admin")).json() == orgs
    assert world.client.get("/api/v1/admin/organizations/org-a/api-keys", headers=world.auth("admin")).json() == keys


@pytest.mark.parametrize("ref", ["%C2%B2", "123456789012345678901234567890", "%D9%A1", "-1", "0", "Org-A"])  # %00: 400
def test_organization_references_are_ascii_ids_or_slugs(world: World, ref: str) -> None:
    r = world.client.get(f"/api/v1/admin/organizations/{ref}", headers=world.auth("admin"))
    assert_error(r, 404, "not_found")
    r = world.client.post(
        f"/api/v1/admin/organizations/{ref}/api-keys", json={"role": "producer"}, headers=world.auth("admin")
    )
    assert_error(r, 404, "not_found")


def test_organization_one_by_id_still_resolves(world: World) -> None:
    org_id = world.orgs["a"]["id"]
    r = world.client.get(f"/api/v1/admin/organizations/{org_id}", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["slug"] == "org-a"


PACK_BODIES = [
    ("pack", {"lots": [5], "event_time": "2026-07-08T09:00:00+07:00"}, "lots.0"),
    ("pack", {"lots": [["x"]], "event_time": "2026-07-08T09:00:00+07:00"}, "lots.0"),
    ("pack", {"lots": "abc", "event_time": "2026-07-08T09:00:00+07:00"}, "lots"),
    ("pack", {"lots": [LOT_A], "event_time": "2026-07-08T09:00:00+07:00", "read_point": [1, 2]}, "read_point"),
    ("pack", {"lots": [LOT_A], "event_time": "2026-07-08T09:00:00+07:00", "read_point": "abc"}, "read_point"),
    ("unpack", {"lots": [{"a": 1}], "event_time": "2026-07-09T09:00:00+07:00"}, "lots.0"),
    ("unpack", {"lots": 7, "event_time": "2026-07-09T09:00:00+07:00"}, "lots"),
]


@pytest.mark.parametrize("verb,body,field", PACK_BODIES, ids=[f"{b[0]}-{b[2]}-{i}" for i, b in enumerate(PACK_BODIES)])
def test_shipment_bodies_are_checked(world: World, verb: str, body: Any, field: str) -> None:
    before = world.counts()
    r = world.client.post(f"/api/v1/shipments/{SSCC}/{verb}", json=body, headers=world.auth("a"))
    err = assert_error(r, 422, "invalid_input")
    assert field in err["message"], err
    assert world.counts() == before


def test_csv_field_over_the_csv_limit(world: World) -> None:
    before = world.counts()
    big = "x" * (csv.field_size_limit() + 1)
    row = f"{LOT_A},ObjectEvent,OBSERVE,storing,2026-07-02T06:30:00+07:00,{big}"
    text = f"lot,event_type,action,biz_step,event_time,note\n{row}\n"
    r = world.client.post(
        "/api/v1/import", content=text.encode(), headers={**world.auth("a"), "Content-Type": "text/csv"}
    )
    err = assert_error(r, 422, "invalid_input")
    assert "row 2, column note" in err["message"]
    assert world.counts() == before


def test_harvest_dates_only_as_iso_strings(world: World) -> None:
    before = world.counts()
    for bad in (0, 1.5, True, "0001-01-01"):
        body = {"gtin": GTIN_A, "code": "H-1", "harvest_start": bad}
        err = assert_error(world.client.post("/api/v1/lots", json=body, headers=world.auth("a")), 422)
        assert "harvest_start" in err["message"]
    assert world.counts() == before
    ok = {"gtin": GTIN_A, "code": "H-1", "harvest_start": "2026-07-01"}
    assert world.client.post("/api/v1/lots", json=ok, headers=world.auth("a")).status_code == 201


@pytest.mark.parametrize("suffix", ["lineage", "epcis", "certificate.pdf"])
def test_lot_code_with_slash_on_exporter_routes(world: World, suffix: str) -> None:
    r = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/{suffix}")
    assert r.status_code == 200, r.text[:300]
    if suffix == "lineage":
        assert r.json()["lot"] == LOT_A
    if suffix == "epcis":
        assert r.headers["content-type"].startswith("application/ld+json")
        assert LOT_A in r.text
    if suffix == "certificate.pdf":
        assert r.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    "name", ['bundle-08930000045676.Q"1;x=y.json', "bundle-08930000045676.PH/2026-07.json", "tên ş.pdf"]
)
def test_content_disposition_survives_any_name(name: str) -> None:
    header = attachment(name)["Content-Disposition"]
    assert header.isascii() and "\r" not in header and "\n" not in header
    msg = Message()
    msg["content-disposition"] = header
    assert msg.get_content_disposition() == "attachment"
    fallback = msg.get_param("filename", header="content-disposition")
    assert isinstance(fallback, str) and '"' not in fallback and "/" not in fallback
    star = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == name


def test_openapi_documents_files_and_malformed_json(world: World) -> None:
    spec = world.client.get("/openapi.json").json()["paths"]
    content = {
        "/api/v1/lots/{lot_id}/certificate.pdf": ["application/pdf"],
        "/api/v1/shipments/{sscc}/certificate.pdf": ["application/pdf"],
        "/api/v1/lots/{lot_id}/epcis": ["application/ld+json"],
        "/api/v1/shipments/{sscc}/epcis": ["application/ld+json"],
        "/api/v1/lots/{lot_id}/qr.png": ["image/png"],
        "/api/v1/lots/{lot_id}/qr.svg": ["image/svg+xml"],
        "/api/v1/exports/eudr": ["application/geo+json"],
    }
    for path, types in content.items():
        assert sorted(spec[path]["get"]["responses"]["200"]["content"]) == types, path
    for path, ops in spec.items():
        for method, op in ops.items():
            if "requestBody" in op:
                assert "400" in op["responses"] and "413" in op["responses"], (method, path)
    assert "400" in spec["/api/v1/lots/{lot_id}/events"]["post"]["responses"]


CONTROL_URLS = [
    "/api/v1/lots/%00/lineage",
    "/api/v1/lots/08930000045676.A%00B/epcis",
    "/api/v1/lots/08930000045676.A%0aB/certificate.pdf",
    "/api/v1/exports/fsma204?lot=%00",
    "/api/v1/exports/eudr?lot=a%1fb",
    "/api/v1/shipments/%7f",
    "/api/v1/admin/organizations/a%00b/api-keys",
    "/api/v1/lots/08930000045676.A%C2%85B",
]


@pytest.mark.parametrize("url", CONTROL_URLS)
def test_control_characters_in_paths_and_queries(world: World, url: str) -> None:
    r = world.client.get(url, headers=world.auth("admin"))
    err = assert_error(r, 400, "bad_request")
    assert "control character" in err["message"]
    assert r.headers["x-content-type-options"] == "nosniff"
    r = world.client.post("/api/v1/admin/api-keys/ak_%00x/revoke", headers=world.auth("admin"))
    assert_error(r, 400, "bad_request")
