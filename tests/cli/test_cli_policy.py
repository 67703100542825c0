"""The CLI asks the same policy as the API (SQLite and PostgreSQL): issue 13's unpack by the packer,
issue 9's refusals with a clear message and exit 4, GS1 company prefixes from ``org create``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger import service as service_mod
from ledger.cli import app as cli
from ledger.cli import tools as cli_tools
from ledger.core import gs1
from ledger.store.db import make_engine

MASTER_KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SSCC = "08930000000000003"
SSCC = SSCC + str(gs1.check_digit(SSCC))
GTIN = gs1.make_gtin("8930002", 11)


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for k, v in {
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_DATABASE_URL": db_url,
        "LEDGER_MASTER_KEY": MASTER_KEY_B64,
    }.items():
        monkeypatch.setenv(k, v)
    if "shipment" not in {g.name for g in cli.app.registered_groups}:
        cli_tools.register(cli.app)  # main() registers them; the test runner calls the app directly
    runner = CliRunner()
    engines: list[Any] = []

    def tracked(url: str, **kw: Any) -> Any:
        engines.append(make_engine(url, **kw))
        return engines[-1]

    monkeypatch.setattr(service_mod, "make_engine", tracked)

    def invoke(*args: str) -> Any:
        try:
            return runner.invoke(cli.app, list(args), catch_exceptions=False)
        finally:  # each command opens its own ledger (a process would exit): close its pool here
            while engines:
                engines.pop().dispose()

    return invoke


@pytest.fixture
def lot(run: Any) -> str:
    assert run("org", "create", "HTX Cà phê", "--slug", "htx", "--gs1-prefix", "8930002").exit_code == 0
    assert run("org", "create", "Vina Export", "--slug", "vina-export", "--kind", "exporter").exit_code == 0
    assert run("org", "create", "Other Export", "--slug", "other-export", "--kind", "exporter").exit_code == 0
    r = run("product", "create", "htx", "--gtin", GTIN, "--name-vi", "Cà phê bột")
    assert r.exit_code == 0, r.output
    r = run("lot", "create", "htx", "--gtin", GTIN, "--code", "CF-1", "--quantity", "500", "--unit", "KGM")
    assert r.exit_code == 0, r.output
    return f"{GTIN}.CF-1"


def test_the_exporter_that_packed_unpacks(run: Any, lot: str) -> None:
    r = run("shipment", "pack", "vina-export", SSCC, lot, "--time", "2026-07-08T09:00:00+07:00")
    assert r.exit_code == 0, r.output
    r = run("shipment", "unpack", "other-export", SSCC, "--time", "2026-07-09T08:00:00+07:00")
    assert r.exit_code == 4, r.output
    assert "not allowed:" in r.output and "only the organization that packed" in r.output
    r = run("shipment", "unpack", "vina-export", SSCC, "--time", "2026-07-10T08:00:00+07:00")
    assert r.exit_code == 0, r.output
    assert json.loads(run("shipment", "show", SSCC).output)["lots"] == []
    r = run("verify", lot, "--json")
    # issue 11: when no chain answers at the default RPC the verdict is unverifiable (was "pending"); with one
    # answering but no contract known it stays pending; exit 0 either way, as before
    assert r.exit_code == 0 and json.loads(r.output)["verdict"] in ("unverifiable", "pending"), r.output


def test_refusals_are_clear_and_nonzero(run: Any, lot: str, tmp_path: Path) -> None:
    assert run("org", "create", "HTX Khác", "--slug", "htx-khac").exit_code == 0
    ev = tmp_path / "ev.json"
    ev.write_text(
        json.dumps(
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "packing", "eventTime": "2026-07-08T09:00:00+07:00"}
        )
    )
    r = run("event", "add", "htx-khac", lot, "--file", str(ev))
    assert r.exit_code == 4, r.output
    assert "not allowed: events.0: wrong signer: a cooperative organization may not record packing" in r.output
    r = run("product", "create", "htx-khac", "--gtin", gs1.make_gtin("8930002", 12), "--name-vi", "Trà")
    assert r.exit_code == 4 and "lies under a GS1 company prefix of organization" in r.output, r.output
    r = run("org", "create", "Cty", "--slug", "cty", "--gs1-prefix", "89300021")
    assert r.exit_code == 2 and "overlaps" in r.output, r.output
    r = run("org", "prefixes", "htx-khac", "--gs1-prefix", "8930003", "--gs1-prefix", "8930004", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["gs1_prefixes"] == ["8930003", "8930004"], r.output
