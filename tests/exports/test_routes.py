"""The exporter routes, mounted on a bare FastAPI app with the API's error handler."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from api import errors
from api.routes.exports import make_router
from ledger.errors import PermissionDenied
from ledger.service import Ledger
from tests.exports.scenario import Scene


@dataclass
class Caller:
    org_id: str
    role: str


@pytest.fixture
def client(ledger: Ledger, scene: Scene) -> TestClient:
    def get_ledger() -> Ledger:
        return ledger

    def require_role(*roles: str) -> Any:
        def dep(x_org: str = Header(default=""), x_role: str = Header(default="")) -> Caller:
            if x_role not in roles:
                raise PermissionDenied(f"needs role {roles}, got {x_role!r}")
            return Caller(x_org, x_role)

        return dep

    app = FastAPI()
    errors.install(app)
    app.include_router(make_router(get_ledger, require_role))
    return TestClient(app)


def test_reads(client: TestClient, scene: Scene) -> None:
    up = client.get(f"/api/v1/lots/{scene.frozen}/lineage", params={"direction": "up"}).json()
    assert {e["input_lot"] for e in up["edges"]} == {scene.raw1, scene.raw2}
    ship = client.get(f"/api/v1/shipments/{scene.sscc}").json()
    assert ship["verdict"] == "pending" and ship["lot_verdicts"] == {scene.frozen: "pending"}
    assert client.get(f"/00/{scene.sscc}").json()["sscc"] == scene.sscc
    csv = client.get("/api/v1/exports/fsma204", params={"sscc": scene.sscc})
    assert csv.headers["content-type"].startswith("text/csv") and "Transformation" in csv.content.decode("utf-8-sig")
    xlsx = client.get("/api/v1/exports/fsma204", params={"from": "2026-07-01", "to": "2026-07-31", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    geo = client.get("/api/v1/exports/eudr", params={"sscc": scene.sscc})
    assert geo.headers["content-type"] == "application/geo+json" and len(geo.json()["features"]) == 2
    doc = client.get(f"/api/v1/lots/{scene.frozen}/epcis", params={"upstream": True}).json()
    assert len(doc["epcisBody"]["eventList"]) == 12
    assert len(client.get(f"/api/v1/shipments/{scene.sscc}/epcis").json()["epcisBody"]["eventList"]) == 12
    pdf = client.get(f"/api/v1/shipments/{scene.sscc}/certificate.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/lots/{scene.raw1}/certificate.pdf").status_code == 200


def test_errors_are_4xx(client: TestClient, scene: Scene) -> None:
    assert client.get("/api/v1/shipments/089300000000000018").status_code == 422  # bad check digit
    assert client.get("/api/v1/shipments/089300000000000026").status_code == 404
    assert client.get("/api/v1/exports/fsma204").status_code == 422
    assert client.get("/api/v1/lots/08930000010018.NOPE/lineage").status_code == 404


def test_writes_need_a_role(client: TestClient, scene: Scene) -> None:
    body = {"lots": [scene.raw2], "event_time": "2026-07-08T10:00:00+07:00"}
    assert client.post(f"/api/v1/shipments/{scene.sscc}/pack", json=body).status_code == 403
    ok = client.post(
        f"/api/v1/shipments/{scene.sscc}/pack", json=body, headers={"x-org": "htx-cai-mon", "x-role": "producer"}
    )
    assert ok.status_code == 200 and ok.json()[0]["lot"] == scene.raw2
    out = client.post(
        f"/api/v1/shipments/{scene.sscc}/unpack",
        json={"event_time": "2026-07-09T10:00:00+07:00", "lots": [scene.raw2]},
        headers={"x-org": "htx-cai-mon", "x-role": "producer"},
    )
    assert out.status_code == 200


def test_import_route(client: TestClient, scene: Scene) -> None:
    template = (Path(__file__).resolve().parents[2] / "docs" / "import-template.csv").read_text(encoding="utf-8")
    rows = template.splitlines()[2:4]  # harvesting and cooling of CM-RAW-1
    text = "\n".join([template.splitlines()[0], *rows]) + "\n"
    headers = {"x-org": "htx-cai-mon", "x-role": "producer", "content-type": "text/csv"}
    res = client.post("/api/v1/import", content=text.encode(), headers=headers)
    assert res.status_code == 200 and len(res.json()["recorded"]) == 2
    bad = client.post("/api/v1/import", content=text.replace("+07:00", "").encode(), headers=headers)
    assert bad.status_code == 422
    details = bad.json()["error"]["details"]
    assert [(d["row"], d["column"]) for d in details] == [(2, "event_time"), (3, "event_time")]
