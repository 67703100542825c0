"""The CLI commands around the API: org create --role, api-key, qr (PNG, SVG, label sheet), verify-bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.cli import app as cli

MASTER_KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for k, v in {
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_MASTER_KEY": MASTER_KEY_B64,
        "LEDGER_PUBLIC_URL": "https://ocop.example.vn",
    }.items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli.app, list(args), catch_exceptions=False)

    return invoke


def test_org_create_with_role_prints_its_first_api_key(run: Any) -> None:
    r = run("org", "create", "HTX Dừa Bến Tre", "--role", "producer", "--json")
    assert r.exit_code == 0, r.output
    org = json.loads(r.output)
    assert org["kind"] == "cooperative"
    assert org["api_key"]["role"] == "producer" and org["api_key"]["token"].startswith("ocop_ak_")
    r = run("org", "create", "Quatest 3", "--role", "inspector", "--json")
    assert json.loads(r.output)["kind"] == "inspector"
    r = run("org", "create", "Bad", "--kind", "cooperative", "--role", "inspector")
    assert r.exit_code == 2 and "needs an organization of kind inspector" in r.output


def test_api_key_commands(run: Any) -> None:
    run("org", "create", "HTX Dừa Bến Tre", "--slug", "htx-dua")
    created = json.loads(run("api-key", "create", "htx-dua", "--role", "producer", "--label", "ERP", "--json").output)
    listed = json.loads(run("api-key", "list", "htx-dua", "--json").output)
    assert [k["key_id"] for k in listed] == [created["key_id"]] and "token" not in listed[0]
    r = run("api-key", "revoke", created["key_id"])
    assert r.exit_code == 0 and "revoked" in r.output
    assert run("api-key", "revoke", created["key_id"]).exit_code == 2  # already revoked: a conflict


def test_qr_writes_png_svg_and_a_label_sheet(run: Any, tmp_path: Path) -> None:
    run("org", "create", "HTX Thanh long Phú Hội", "--slug", "htx")
    run(
        "product",
        "create",
        "htx",
        "--gtin",
        "08930000045676",
        "--name-vi",
        "Thanh long ruột đỏ",
        "--stars",
        "4",
        "--year",
        "2024",
    )
    run("lot", "create", "htx", "--gtin", "08930000045676", "--code", "PH/2026-07")
    out, sheet = tmp_path / "qr", tmp_path / "labels.pdf"
    r = run("qr", "08930000045676.PH/2026-07", "--out", str(out), "--sheet", str(sheet), "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["urls"] == ["https://ocop.example.vn/01/08930000045676/10/PH%2F2026-07"]
    assert (out / "08930000045676.PH_2026-07.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "08930000045676.PH_2026-07.svg").read_text().startswith("<svg")
    pdf = sheet.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf  # A4
    assert run("qr", "08930000045676.NOPE", "--out", str(out)).exit_code == 3


def test_verify_bundle_without_a_chain_is_exit_2(run: Any, tmp_path: Path) -> None:
    f = tmp_path / "b.json"
    f.write_text("{}")
    r = run("verify-bundle", str(f), "--rpc", "http://127.0.0.1:9")
    assert r.exit_code == 1  # a bundle without its fields fails the format check before any RPC
    assert "FAILED format" in r.output
    f.write_text("not json")
    r = run("verify-bundle", str(f), "--rpc", "http://127.0.0.1:9", "--json")
    assert r.exit_code == 1 and json.loads(r.output)["failure"]["check"] == "format"
    assert run("verify-bundle", str(tmp_path / "missing.json"), "--rpc", "http://127.0.0.1:9").exit_code == 2


def test_core_commands_from_options_and_files(run: Any, tmp_path: Path) -> None:
    """product/lot create from options or a JSON file, event add from stdin-like file, local verify."""
    assert run("org", "create", "HTX Công Bằng Thuận An", "--slug", "htx-thuan-an").exit_code == 0
    r = run(
        "product",
        "create",
        "htx-thuan-an",
        "--gtin",
        "08930000000026",
        "--name-vi",
        "Cà phê bột",
        "--stars",
        "4",
        "--year",
        "2024",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ocop_stars"] == 4
    bad = run("product", "create", "htx-thuan-an", "--gtin", "08930000000027", "--name-vi", "x")
    assert bad.exit_code == 2 and "check digit is wrong: expected 6, got 7" in bad.output
    lot_file = tmp_path / "lot.json"
    lot_file.write_text(json.dumps({"gtin": "08930000000026", "code": "CF-2026-02", "quantity": 500, "unit": "KGM"}))
    assert run("lot", "create", "htx-thuan-an", "--file", str(lot_file)).exit_code == 0
    r = run(
        "lot",
        "create",
        "htx-thuan-an",
        "--gtin",
        "08930000000026",
        "--code",
        "CF-2026-01",
        "--province",
        "Lâm Đồng",
        "--quantity",
        "500",
        "--unit",
        "KGM",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["origin_province"] == "Lâm Đồng"
    ev = tmp_path / "ev.json"
    ev.write_text(
        json.dumps(
            {
                "type": "ObjectEvent",
                "action": "OBSERVE",
                "bizStep": "ocop:roasting",
                "eventTime": "2026-08-01T08:00:00+07:00",
            }
        )
    )
    r = run("event", "add", "htx-thuan-an", "08930000000026.CF-2026-01", "--file", str(ev), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["seq"] == 1, r.output
    report = run("verify", "08930000000026.CF-2026-01", "--json")
    assert report.exit_code == 0
    assert [e["bizStep"] for e in json.loads(report.output)["entries"]] == ["commissioning", "ocop:roasting"]
    assert run("verify", "08930000000026.NOPE").exit_code == 3


def test_product_create_with_brand_net_content_names_and_images(run: Any, tmp_path: Path) -> None:
    import hashlib

    from tests.api.test_product_facts import png

    assert run("org", "create", "HTX Công Bằng Thuận An", "--slug", "htx-thuan-an").exit_code == 0
    image = tmp_path / "goi-ca-phe.png"
    image.write_bytes(png(7))
    r = run("product", "create", "htx-thuan-an", "--gtin", "08930000000026", "--name-vi", "Cà phê bột",
            "--name-zh", "咖啡粉", "--name-ja", "コーヒー粉", "--brand", "Công Bằng", "--net-content", "250 GRM",
            "--image", str(image), "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert made["net_content"] == {"value": 250, "unit": "GRM"} and made["brand"] == "Công Bằng"
    assert (made["name_zh"], made["name_ja"]) == ("咖啡粉", "コーヒー粉")
    assert made["images"] == [{"sha256": hashlib.sha256(png(7)).hexdigest(), "media_type": "image/png"}]
    assert (tmp_path / "data" / "photos" / made["images"][0]["sha256"][:2] / made["images"][0]["sha256"]).exists()
    for bad, says in (
        (["--net-content", "a lot"], "net content: expected a number and a unit"),
        (["--net-content", "250 GRAMS"], "UN/ECE Rec. 20 unit code"),
        (["--image", str(tmp_path / "none.png")], "cannot read the image"),
    ):
        r = run("product", "create", "htx-thuan-an", "--gtin", "08930000000033", "--name-vi", "Trà", *bad)
        assert r.exit_code == 2 and says in r.output, (bad, r.output)
