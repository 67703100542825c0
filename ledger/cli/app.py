"""``ocop-ledger``: the command line for cooperatives, operators and auditors.

This module only wires: it builds the Typer app and registers the commands, which are plain
functions in the command modules (``records``, ``chain``, ``tools``, ``api_keys``). Those import
``ledger.cli.common`` and never each other or this module, so the CLI has no import circle.
The table below is the whole command tree, in the order ``--help`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from ledger.cli import accounts, api_keys, attest, chain, records, tools
from ledger.cli.common import fail
from ledger.errors import VerificationError

Command = Callable[..., Any]

COMMANDS: list[tuple[str, Command]] = [
    ("verify", records.verify),
    ("devchain", chain.devchain_cmd),
    ("deploy", chain.deploy_cmd),
    ("anchor-worker", chain.anchor_worker_cmd),
    ("up", chain.up_cmd),
    ("import", tools.import_cmd),
    ("audit", tools.audit_cmd),
    ("monitor", tools.monitor_cmd),
    ("lineage", tools.lineage_cmd),
    ("serve", api_keys.serve),
    ("qr", api_keys.qr_cmd),
    ("verify-bundle", api_keys.verify_bundle_cmd),
]
"""Top-level commands: (name, function)."""

GROUPS: list[tuple[str, str, list[tuple[str, Command]]]] = [
    (
        "org",
        "Organizations: cooperatives (HTX), companies, inspectors, exporters.",
        [
            ("create", records.org_create),
            ("prefixes", records.org_prefixes),
            ("list", records.org_list),
            ("show", records.org_show),
        ],
    ),
    (
        "key",
        "Signing keys: generate, register your own, revoke.",
        [
            ("generate", records.key_generate),
            ("register", records.key_register),
            ("pop-statement", records.key_pop_statement),
            ("revoke", records.key_revoke),
        ],
    ),
    (
        "product",
        "Products (GTIN, names, OCOP stars, certifications).",
        [("create", records.product_create), ("update", records.product_update)],
    ),
    ("lot", "Lots: create and inspect.", [("create", records.lot_create), ("show", records.lot_show)]),
    ("event", "Record supply-chain events on lots.", [("add", records.event_add), ("batch", records.event_batch)]),
    (
        "export",
        "Compliance exports: FSMA 204, EUDR, EPCIS 2.0, certificate PDF.",
        [
            ("fsma204", tools.export_fsma),
            ("eudr", tools.export_eudr),
            ("eudr-dds", tools.export_eudr_dds),
            ("epcis", tools.export_epcis),
            ("certificate", tools.export_certificate),
        ],
    ),
    (
        "shipment",
        "Shipments (pallets, containers) identified by an SSCC.",
        [
            ("pack", tools.ship_pack),
            ("unpack", tools.ship_unpack),
            ("move", tools.ship_move),
            ("show", tools.ship_show),
        ],
    ),
    (
        "api-key",
        "API keys of organizations (Authorization: Bearer <key>).",
        [("create", api_keys.api_key_create), ("list", api_keys.api_key_list), ("revoke", api_keys.api_key_revoke)],
    ),
    (
        "account",
        "Console accounts: people who sign in to /console.",
        [
            ("create", accounts.account_create),
            ("list", accounts.account_list),
            ("reset-password", accounts.account_reset_password),
            ("invite", accounts.account_invite),
        ],
    ),
    (
        "attest",
        "Attestations by authority organizations: OCOP rating, certification, growing-area and packing-house codes.",
        [("add", attest.attest_add), ("revoke", attest.attest_revoke), ("list", attest.attest_list)],
    ),
]
"""Command groups: (name, help, [(subcommand name, function)])."""


def build_app() -> typer.Typer:
    """The ``ocop-ledger`` Typer app with every command of ``COMMANDS`` and ``GROUPS`` registered."""
    root = typer.Typer(help="OCOP Ledger: signed, chained, anchored provenance for OCOP goods.", no_args_is_help=True)
    for name, fn in COMMANDS:
        root.command(name)(fn)
    for name, help_text, commands in GROUPS:
        group = typer.Typer(help=help_text, no_args_is_help=True)
        for sub, fn in commands:
            group.command(sub)(fn)
        root.add_typer(group, name=name)
    return root


app = build_app()


def main() -> None:
    from ledger.runtime import settle_recursion_limit

    settle_recursion_limit()  # web3 (py_ecc) raises it to 100,000: deep JSON would overflow the C stack
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:
        if exc.title not in SETTINGS_MODELS:
            raise
        typer.echo(f"error: {settings_message(exc)}", err=True)
        raise SystemExit(2) from None
    except VerificationError as exc:  # pragma: no cover - last resort
        fail(str(exc), 1)


SETTINGS_MODELS = ("Settings", "ApiSettings")


def settings_message(exc: Any) -> str:
    """A bad ``LEDGER_*`` setting as one line per variable: its name, the value and what to fix
    (pydantic's own report is a traceback with the field's Python name)."""
    lines = []
    for err in exc.errors():
        name = "LEDGER_" + "_".join(str(p) for p in err.get("loc", ())).upper()
        lines.append(f"{name}={err.get('input')!r}: {err.get('msg')}")
    return "bad setting" + ("s" if len(lines) > 1 else "") + ":\n  " + "\n  ".join(lines)
