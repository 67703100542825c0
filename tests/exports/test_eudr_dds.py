"""EUDR due diligence statement data for coffee (HS 0901): over HTTP and from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from api.routes.exports import make_router
from ledger.cli import app as cli
from ledger.cli import tools as cli_tools
from ledger.core.records import ProductCreate
from ledger.service import Ledger
from tests.exports.scenario import POLYGON, Scene
from tests.exports.test_eudr import check_as_partner, sphere_area_ha
from tests.helpers import gtin

COFFEE_LOT = {
    "code": "TA-2026-03",
    "origin_province": "Lâm Đồng",
    "growing_area_code": "VN-LDTA-0021",
    "plot": POLYGON,
    "plot_area_ha": 6.0,
    "quantity": 1.5,
    "unit": "TNE",
    "event_time": "2026-07-05T06:00:00+07:00",
}


@pytest.fixture
def client(ledger: Ledger) -> TestClient:
    app = FastAPI()
    errors.install(app)
    app.include_router(make_router(lambda: ledger, lambda *roles: lambda: None))
    return TestClient(app)


def coffee_lot(ledger: Ledger, org: str = "htx-cai-mon") -> str:
    g = gtin(3001)
    ledger.create_product(org, ProductCreate(gtin=g, name_vi="Cà phê nhân", name_en="Green coffee", category="coffee"))
    return str(ledger.create_lot(org, {"gtin": g, **COFFEE_LOT})["lot_id"])


def test_coffee_lot_statement(client: TestClient, ledger: Ledger, scene: Scene) -> None:
    lot = coffee_lot(ledger)
    r = client.get(f"/api/v1/lots/{lot}/eudr-dds")
    assert r.status_code == 200, r.text
    dds = r.json()
    assert dds["commodity"] == {
        "hsHeading": "0901",
        "description": "Coffee, whether or not roasted or decaffeinated; coffee husks and skins",
        "tradeName": "Green coffee",
        "netMassKg": 1500.0,
        "quantity": 1.5,
        "unit": "TNE",
        "countryOfProduction": "VN",
    }
    assert dds["producers"] == [{"name": "HTX Sầu riêng Cái Mơn", "country": "VN", "province": "Bến Tre"}]
    check_as_partner(dds["geolocation"])
    (plot,) = dds["geolocation"]["features"]
    assert plot["id"] == lot and plot["properties"]["ProductionPlace"] == "VN-LDTA-0021"
    assert sphere_area_ha(plot["geometry"]["coordinates"][0]) == pytest.approx(COFFEE_LOT["plot_area_ha"], rel=0.1)
    assert dds["ledger"]["placed"][0]["lot"] == lot and len(dds["ledger"]["placed"][0]["leafHash"]) == 64


def test_statement_errors_are_4xx(client: TestClient, scene: Scene) -> None:
    durian = client.get(f"/api/v1/shipments/{scene.sscc}/eudr-dds")
    assert durian.status_code == 422 and "not a commodity" in durian.json()["error"]["message"]
    assert client.get("/api/v1/lots/08930000030016.NOPE/eudr-dds").status_code == 404


def test_cli_export_eudr_dds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from tests.cli.test_cli import MASTER_KEY_B64

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEDGER_MASTER_KEY", MASTER_KEY_B64)
    if "export" not in {g.name for g in cli.app.registered_groups}:
        cli_tools.register(cli.app)  # main() registers them; the test runner calls the app directly
    runner = CliRunner()

    def run(*args: str) -> Any:
        r = runner.invoke(cli.app, list(args), catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r

    run("org", "create", "HTX Công Bằng Thuận An", "--kind", "cooperative", "--province", "Lâm Đồng")
    g = gtin(3002)
    run("product", "create", "htx-cong-bang-thuan-an", "--gtin", g, "--name-vi", "Cà phê", "--category", "coffee")
    (tmp_path / "lot.json").write_text(json.dumps({"gtin": g, **COFFEE_LOT}))
    run("lot", "create", "htx-cong-bang-thuan-an", "--file", "lot.json")
    run("export", "eudr-dds", "--lot", f"{g}.TA-2026-03", "-o", "dds.json")
    dds = json.loads((tmp_path / "dds.json").read_text())
    assert dds["commodity"]["hsHeading"] == "0901" and dds["commodity"]["netMassKg"] == 1500.0
    check_as_partner(dds["geolocation"])


def test_demo_plots_export_with_their_true_areas(ledger: Ledger) -> None:
    """Every demo lot with a plot exports: declared areas agree with the polygons (the durian plots were 6.5 ha)."""
    from ledger.cli import demo
    from ledger.exports import data, eudr, eudr_dds
    from ledger.store.db import read_tx

    seeded = demo.seed(ledger)
    with read_tx(ledger.engine) as conn:
        lots = data.load_lots(conn, [lot for lot in seeded.lots if data.load_lot(conn, lot).origin.get("plot")])
        assert len(lots) >= 4
        for lot in lots:
            fc = eudr.collection_of([lot])
            check_as_partner(fc)
            declared = lot.origin.get("plot_area_ha")
            if declared is not None:
                ring = fc["features"][0]["geometry"]["coordinates"][0]
                assert declared == pytest.approx(sphere_area_ha(ring), rel=0.01)
        coffee = next(le for le in lots if le.category == "coffee")
        assert eudr_dds.statement(conn, lot=coffee.lot_id)["commodity"]["hsHeading"] == "0901"
