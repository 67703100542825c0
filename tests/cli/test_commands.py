"""The ``ocop-ledger`` command tree: every documented command and option, how the CLI is wired.

The names are an interface (../shared/DESIGN.md, "CLI"): scripts call them. The tree is read
from the Typer app itself, so a command or option that is renamed, dropped or added shows here.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import typer

from ledger.cli import app as cli

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "ledger" / "cli"
DESIGN = ROOT.parent / "shared" / "DESIGN.md"

# command -> its arguments (upper case) and options, or group -> {subcommand: ...}, in --help order
TREE: dict[str, Any] = {
    "verify": ["LOT_ID", "--json"],
    "devchain": ["--port"],
    "deploy": ["--force", "--json"],
    "anchor-worker": ["--once", "--wait", "--verbose", "-v"],
    "up": ["--no-demo", "--host", "--port", "--verbose", "-v"],
    "import": ["ORG", "FILE", "--json"],
    "audit": ["--json", "--rpc", "--contract", "--chunk", "--no-progress", "--processes"],
    "monitor": ["URL", "--rpc", "--contract", "--state", "--json"],
    "lineage": ["LOT", "--direction", "--json"],
    "serve": ["--host", "--port", "--workers"],
    "qr": ["LOTS", "--out", "--sheet", "--copies", "--caption", "--no-caption", "--json"],
    "verify-bundle": ["FILE", "--rpc", "--contract", "--trust", "--require-latest", "--json"],
    "org": {
        "create": ["NAME", "--kind", "--province", "--slug", "--gs1-prefix", "--no-key", "--role", "--json"],
        "prefixes": ["ORG", "--gs1-prefix", "--json"],
        "list": ["--json"],
        "show": ["ORG", "--json"],
    },
    "key": {
        "generate": ["ORG", "--json"],
        "register": ["ORG", "PUBLIC_KEY", "--pop", "--effective", "--json"],
        "pop-statement": ["ORG", "PUBLIC_KEY", "--effective"],
        "revoke": ["KEY_ID", "--at", "--reason", "--json"],
    },
    "product": {
        "create": [
            "ORG",
            "--gtin",
            "--name-vi",
            "--name-en",
            "--name-zh",
            "--name-ja",
            "--category",
            "--brand",
            "--net-content",
            "--image",
            "--stars",
            "--year",
            "--file",
            "--json",
        ],  # fmt: skip
        "update": ["ORG", "--file", "--json"],
    },
    "lot": {
        "create": ["ORG", "--gtin", "--code", "--province", "--commune", "--quantity", "--unit", "--file", "--json"],
        "show": ["LOT_ID", "--json"],
    },
    "event": {"add": ["ORG", "LOT_ID", "--file", "--json"], "batch": ["ORG", "FILE", "--json"]},
    "export": {
        "fsma204": ["--lot", "--sscc", "--from", "--to", "--format", "--output", "-o", "--strict"],
        "eudr": ["--sscc", "--lot", "--output", "-o"],
        "eudr-dds": ["--sscc", "--lot", "--output", "-o"],
        "epcis": ["LOT", "--sscc", "--no-upstream", "--upstream", "--output", "-o"],
        "certificate": ["--lot", "--sscc", "--output", "-o", "--rpc"],
    },
    "shipment": {
        "pack": ["ORG", "SSCC", "LOTS", "--time", "--json"],
        "unpack": ["ORG", "SSCC", "LOTS", "--time", "--json"],
        "move": ["ORG", "SSCC", "STEP", "--time", "--party", "--location", "--doc", "--json"],
        "show": ["SSCC"],
    },
    "api-key": {
        "create": ["ORG", "--role", "--label", "--json"],
        "list": ["ORG", "--json"],
        "revoke": ["KEY_ID", "--json"],
    },
    "account": {
        "create": ["ORG", "LOGIN", "--role", "--name", "--password-stdin", "--json"],
        "list": ["ORG", "--json"],
        "reset-password": ["LOGIN", "--password-stdin", "--json"],
        "invite": ["ORG", "--role", "--base-url", "--json"],
    },
    "attest": {
        "add": ["AUTHORITY", "--about", "--id", "--claim", "--json"],
        "revoke": ["SUBJECT", "--json"],
        "list": ["--about", "--id", "--json"],
    },
}
CONTRACT = (  # DESIGN.md's interface contract, "CLI (`ocop-ledger`, Typer)"
    "up serve anchor-worker devchain deploy org key product lot event import qr verify verify-bundle audit export"
).split()


def _params(cmd: Any) -> list[str]:
    out: list[str] = []
    for p in cmd.params:
        if p.param_type_name == "argument":
            out.append(str(p.name).upper())
        else:
            out.extend(sorted([*p.opts, *p.secondary_opts]))
    return out


def _tree(cmd: Any) -> dict[str, Any]:
    return {name: _tree(sub) if getattr(sub, "commands", None) else _params(sub) for name, sub in cmd.commands.items()}


def test_the_command_tree_is_the_documented_one() -> None:
    tree = _tree(typer.main.get_command(cli.app))
    assert tree == TREE
    assert list(tree) == list(TREE)  # the order --help lists them in
    assert set(CONTRACT) <= set(tree)


def test_design_md_names_only_commands_that_exist() -> None:
    if not DESIGN.is_file():
        pytest.skip(f"{DESIGN} is not beside the project (it is in CI and on developers' machines)")
    text = DESIGN.read_text(encoding="utf-8")
    paragraph = text[text.index("CLI (`ocop-ledger`, Typer):") :].split("\n\n", 1)[0]
    documented = re.findall(r"`([a-z-]+)`", paragraph.split(":", 1)[1])
    assert documented == CONTRACT


def test_python_m_ledger_cli_help_lists_every_command() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "COLUMNS": "200"}
    r = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", r.stdout, flags=re.MULTILINE)
    assert set(listed) == set(TREE), r.stdout
    assert "Usage: python -m ledger.cli" in r.stdout


def test_the_entry_points_are_the_app_main() -> None:
    import ledger.cli

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, name = scripts["ocop-ledger"].partition(":")
    assert getattr(import_module(module), name) is cli.main
    assert ledger.cli.main is cli.main  # `ledger.cli:main`, the name installed before the move


def _cli_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "ledger.cli":
            found |= {f"ledger.cli.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ledger.cli."):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ledger.cli.")}
    return found


@pytest.mark.parametrize("module", ["records", "chain", "tools", "api_keys", "common", "demo"])
def test_command_modules_import_no_other_command_module(module: str) -> None:
    """No import circle: only ledger/cli/app.py wires the command modules; they share ledger.cli.common
    (and ``serve`` its worker supervisor, ledger.cli.workers, which imports no CLI module)."""
    allowed = {"ledger.cli.common", "ledger.cli.demo", "ledger.cli.workers"} - {f"ledger.cli.{module}"}
    assert _cli_imports(CLI_DIR / "workers.py") == set()
    assert _cli_imports(CLI_DIR / f"{module}.py") <= allowed


def test_no_function_in_the_cli_is_over_60_lines() -> None:
    long = [
        f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for path in sorted(CLI_DIR.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60  # type: ignore[operator]
    ]
    assert long == []
