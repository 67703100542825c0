"""``ocop-ledger account``: create (password from stdin or generated), list, invite, reset-password."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.cli import accounts as cli_accounts
from ledger.cli import app as cli
from ledger.service import Ledger
from ledger.service.console import Console
from ledger.settings import Settings

MASTER_KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEDGER_MASTER_KEY", MASTER_KEY_B64)
    monkeypatch.setenv("LEDGER_PUBLIC_URL", "https://ocop.example.vn")
    if "account" not in {g.name for g in cli.app.registered_groups}:
        cli_accounts.register(cli.app)  # main() registers it; the test runner calls the app directly
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli.app, list(args), input=stdin, catch_exceptions=False)

    invoke("org", "create", "HTX Thanh long Phú Hội", "--slug", "htx-a")
    return invoke


def console() -> Console:
    return Console.open(Ledger.open(Settings()), Settings().data_dir)


def test_create_with_a_password_from_stdin_then_sign_in(run: Any) -> None:
    r = run("account", "create", "htx-a", "0912 345 678", "--name", "Chị Lan", "--password-stdin", stdin="mat-khau-1\n")
    assert r.exit_code == 0, r.output
    assert "mat-khau-1" not in r.output
    assert console().sign_in("0912345678", "mat-khau-1").account.name == "Chị Lan"
    listed = json.loads(run("account", "list", "htx-a", "--json").output)
    assert [(p["login"], p["role"]) for p in listed] == [("+84912345678", "owner")]


def test_reset_password_prints_a_new_one_once(run: Any) -> None:
    run("account", "create", "htx-a", "lan@htx.vn", "--password-stdin", stdin="mat-khau-1\n")
    r = run("account", "reset-password", "lan@htx.vn", "--json")
    new = json.loads(r.output)["password"]
    assert len(new) >= 12
    assert console().sign_in("lan@htx.vn", new).account.login == "lan@htx.vn"


def test_invite_prints_a_one_time_link(run: Any) -> None:
    r = run("account", "invite", "htx-a", "--role", "member")
    assert r.output.startswith("https://ocop.example.vn/console/invite?token=")
    token = r.output.strip().split("token=")[1]
    assert console().invite_info(token)["role"] == "member"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("account", "create", "no-such-org", "a@b.vn", "--password-stdin"), 3, "no organization"),
        (("account", "create", "htx-a", "not a login", "--password-stdin"), 2, "expected an e-mail address"),
        (("account", "reset-password", "nobody@htx.vn"), 3, "no account with login"),
    ],
)
def test_errors_say_what_is_wrong(run: Any, args: tuple[str, ...], code: int, message: str) -> None:
    r = run(*args, stdin="mat-khau-1\n")
    assert r.exit_code == code
    assert message in r.output
