"""`shipment move` (API and CLI) with reference documents and locations; FSMA 204 strict export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ledger.core import canonical, gs1
from ledger.store import log as store
from ledger.store.db import read_tx
from tests.api.conftest import LOT_A, World
from tests.cli.test_cli import run  # noqa: F401  (the CLI fixture)

SSCC = "08930000000000001"
SSCC = SSCC + str(gs1.check_digit(SSCC))
SHIP = {
    "step": "shipping",
    "event_time": "2026-07-09T09:00:00+07:00",
    "location": {"id": "urn:epc:id:sgln:8930000.00002.0", "name": "Kho Phú Hội, Lâm Đồng"},
    "party": "Importer warehouse, Los Angeles CA",
    "documents": [{"type": "BOL", "number": "VNX-889"}, {"type": "inv", "number": "INV-2026-77"}],
}


def _packed(world: World) -> None:
    body = {"lots": [LOT_A], "event_time": "2026-07-08T09:00:00+07:00"}
    res = world.client.post(f"/api/v1/shipments/{SSCC}/pack", json=body, headers=world.auth("a"))
    assert res.status_code == 200, res.text


def _fsma(world: World, strict: bool) -> Any:
    return world.client.get(f"/api/v1/exports/fsma204?sscc={SSCC}&strict={str(strict).lower()}")


def test_move_records_reference_documents_in_the_signed_event(world: World) -> None:
    _packed(world)
    res = world.client.post(f"/api/v1/shipments/{SSCC}/move", json=SHIP, headers=world.auth("a"))
    assert res.status_code == 201, res.text
    with read_tx(world.ledger.engine) as conn:
        last = store.lot_entries(conn, LOT_A)[-1]
    ev = canonical.from_canonical(str(last.event).encode())
    assert ev["bizTransactionList"] == [
        {"type": "bol", "bizTransaction": "VNX-889"},
        {"type": "inv", "bizTransaction": "INV-2026-77"},
    ]
    assert ev["readPoint"]["name"] == "Kho Phú Hội, Lâm Đồng"
    assert ev["destinationList"] == [{"type": "location", "destination": "Importer warehouse, Los Angeles CA"}]
    table = list(csv.DictReader(io.StringIO(_fsma(world, strict=True).content.decode("utf-8-sig"))))
    ship = next(r for r in table if r["Critical Tracking Event"] == "Shipping")
    assert (ship["Reference Document Type"], ship["Reference Document Number"]) == ("bol; inv", "VNX-889; INV-2026-77")
    assert ship["Location Description"] == "Kho Phú Hội, Lâm Đồng"  # ship-from
    assert ship["Immediate Subsequent Recipient"] == "Importer warehouse, Los Angeles CA"  # ship-to
    assert ship["Missing KDEs"] == ""


def test_strict_export_lists_the_missing_kdes(world: World) -> None:
    _packed(world)
    bare = {"step": "shipping", "event_time": "2026-07-09T09:00:00+07:00"}
    assert world.client.post(f"/api/v1/shipments/{SSCC}/move", json=bare, headers=world.auth("a")).status_code == 201
    loose = _fsma(world, strict=False)
    assert loose.status_code == 200
    row = next(r for r in csv.DictReader(io.StringIO(loose.content.decode("utf-8-sig"))) if r["Event Date"])
    assert "Reference Document Number" in row["Missing KDEs"] and "Location Description" in row["Missing KDEs"]
    refused = _fsma(world, strict=True)
    assert refused.status_code == 422
    err = refused.json()["error"]
    assert "FSMA 204 export refused" in err["message"]
    assert any("Reference Document Type" in d["message"] for d in err["details"])


def test_bad_reference_documents_are_refused_and_store_nothing(world: World) -> None:
    _packed(world)
    before = world.counts()
    for docs in ([{"type": "receipt", "number": "1"}], [{"type": "bol", "number": ""}], ["bol"], "bol:1"):
        body = SHIP | {"documents": docs}
        res = world.client.post(f"/api/v1/shipments/{SSCC}/move", json=body, headers=world.auth("a"))
        assert res.status_code == 422, (docs, res.text)
        assert res.json()["error"]["code"] == "invalid_input"
    unknown = world.client.post(f"/api/v1/shipments/{SSCC}/move", json=SHIP | {"x": 1}, headers=world.auth("a"))
    assert unknown.status_code == 422 and world.counts() == before
    inspector = world.client.post(f"/api/v1/shipments/{SSCC}/move", json=SHIP, headers=world.auth("inspector"))
    assert inspector.status_code == 403


def test_cli_move_with_documents_and_strict_export(run: Any, tmp_path: Path) -> None:  # noqa: F811
    assert run("org", "create", "HTX Công Bằng Thuận An", "--slug", "htx-thuan-an").exit_code == 0
    gtin = "08930000000026"
    assert run("product", "create", "htx-thuan-an", "--gtin", gtin, "--name-vi", "Cà phê bột").exit_code == 0
    lot = ["lot", "create", "htx-thuan-an", "--gtin", gtin, "--code", "CF-1", "--quantity", "500", "--unit", "KGM"]
    assert run(*lot).exit_code == 0
    t = "2026-07-08T09:00:00+07:00"
    packed = run("shipment", "pack", "htx-thuan-an", SSCC, f"{gtin}.CF-1", "--time", t)
    assert packed.exit_code == 0, packed.output
    bad = run("shipment", "move", "htx-thuan-an", SSCC, "shipping", "--time", t, "--doc", "receipt:1")
    assert bad.exit_code == 2 and "TYPE:NUMBER" in bad.output
    out = tmp_path / "f.csv"
    assert run("export", "fsma204", "--sscc", SSCC, "--strict", "-o", str(out)).exit_code == 0  # nothing shipped yet
    move = ["shipment", "move", "htx-thuan-an", SSCC, "shipping", "--time", t, "--party", "Kho Cát Lái"]
    r = run(
        *move, "--doc", "bol:B-1", "--doc", "inv:I-2", "--location", "urn:epc:id:sgln:8930000.00002.0=Kho A", "--json"
    )
    assert r.exit_code == 0, r.output and json.loads(r.output)
    assert run("export", "fsma204", "--sscc", SSCC, "--strict", "-o", str(out)).exit_code == 0
    ship = [
        r for r in csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))) if r["Critical Tracking Event"] == "Shipping"
    ]
    assert [(r["Reference Document Number"], r["Location Description"]) for r in ship] == [("B-1; I-2", "Kho A")]
    assert run(*move).exit_code == 0  # no documents, no location
    refused = run("export", "fsma204", "--sscc", SSCC, "--strict", "-o", str(out))
    assert refused.exit_code == 2 and "Reference Document Type" in refused.output
