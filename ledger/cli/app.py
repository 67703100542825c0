"""``ocop-ledger``: the command line for cooperatives, operators and auditors.

Every command builds its ``Settings`` and ``Ledger`` when it runs (nothing at import time),
prints a readable result or, with ``--json``, one JSON document, and exits non-zero on error
with the error's message on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from ledger.errors import InputError, LedgerError, NotFound, VerificationError

app = typer.Typer(help="OCOP Ledger: signed, chained, anchored provenance for OCOP goods.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations: cooperatives (HTX), companies, inspectors, exporters.", no_args_is_help=True)
key_app = typer.Typer(help="Signing keys: generate, register your own, revoke.", no_args_is_help=True)
product_app = typer.Typer(help="Products (GTIN, names, OCOP stars, certifications).", no_args_is_help=True)
lot_app = typer.Typer(help="Lots: create and inspect.", no_args_is_help=True)
event_app = typer.Typer(help="Record supply-chain events on lots.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(product_app, name="product")
app.add_typer(lot_app, name="lot")
app.add_typer(event_app, name="event")

JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
T = TypeVar("T")


def open_ledger() -> Any:
    from ledger.service import Ledger
    from ledger.settings import Settings

    return Ledger.open(Settings())


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[[], T]) -> T:
    """Run a command body, turning ledger errors into a message and an exit code."""
    try:
        return fn()
    except InputError as exc:
        details = "".join(f"\n  - {d.get('field', '')}: {d.get('message', '')}" for d in exc.details[:20])
        fail(f"{exc}{details}", 2)
    except NotFound as exc:
        fail(str(exc), 3)
    except LedgerError as exc:
        fail(str(exc), 1)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json or text is None:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(text)


def read_json(path: Path) -> Any:
    try:
        raw = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return json.loads(raw)
    except (OSError, ValueError) as exc:
        fail(f"cannot read JSON from {path}: {exc}")


def given(file: Path | None, **options: Any) -> Any:
    """The JSON in ``file`` if one is named, else the options that were given."""
    if file is not None:
        return read_json(file)
    return {k: v for k, v in options.items() if v is not None}


def parse_model(model: type[T], data: Any, where: str) -> T:
    from pydantic import ValidationError

    from ledger.core.records import input_error

    try:
        return model.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        raise input_error(exc, where) from exc


# --- organizations ----------------------------------------------------------------------


@org_app.command("create")
def org_create(
    name: str,
    kind: Annotated[
        str | None,
        typer.Option(help="cooperative | company | inspector | exporter | operator (default: from --role)"),
    ] = None,
    province: Annotated[str | None, typer.Option()] = None,
    slug: Annotated[str | None, typer.Option(help="short id; derived from the name if absent")] = None,
    no_key: Annotated[bool, typer.Option("--no-key", help="the organization will sign with its own key")] = False,
    role: Annotated[
        str | None,
        typer.Option(help="also create the organization's first API key: producer | inspector | exporter | admin"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an organization and (unless --no-key) a server-held signing key for it.

    With --role, also its first API key, printed once (with --json as "api_key").
    """
    from ledger.core.records import OrganizationCreate
    from ledger.store import apikeys

    the_kind = kind or (apikeys.DEFAULT_KIND.get(role, "cooperative") if role else "cooperative")

    def body() -> dict[str, Any]:
        data = parse_model(
            OrganizationCreate, {"name": name, "kind": the_kind, "province": province, "slug": slug}, "org"
        )
        if role is not None:
            apikeys.check_role(role, data.kind)
        ledger = open_ledger()
        org: dict[str, Any] = ledger.create_org(data, generate_key=not no_key)
        if role is not None:
            from ledger.store.db import write_tx

            with write_tx(ledger.engine) as conn:
                org["api_key"] = apikeys.create(conn, int(org["id"]), role, "first key")
        return org

    org = run(body)
    text = f"created {org['kind']} {org['slug']} (id {org['id']})"
    if "api_key" in org:
        text += f"\nAPI key ({org['api_key']['role']}), shown only once:\n{org['api_key']['token']}"
    emit(org, as_json, text)


@org_app.command("list")
def org_list(as_json: JsonOpt = False) -> None:
    """List organizations."""
    orgs = run(lambda: open_ledger().list_orgs())
    lines = [f"{o['id']:>4}  {o['slug']:<40} {o['kind']:<12} {o['province'] or ''}" for o in orgs]
    emit(orgs, as_json, "\n".join(lines) or "no organizations yet")


@org_app.command("show")
def org_show(org: str, as_json: JsonOpt = False) -> None:
    """Show one organization and its keys."""
    emit(run(lambda: open_ledger().get_org(org)), True)


# --- keys -------------------------------------------------------------------------------


@key_app.command("generate")
def key_generate(org: str, as_json: JsonOpt = False) -> None:
    """Generate a new server-held key for ORG; the previous active key is retired (rotation)."""
    k = run(lambda: open_ledger().generate_key(org))
    emit(k, as_json, f"new active key {k['key_id']} (previous key retired; its entries stay valid)")


@key_app.command("register")
def key_register(
    org: str, public_key: Annotated[str, typer.Argument(help="base64 raw Ed25519 public key")], as_json: JsonOpt = False
) -> None:
    """Register a public key ORG holds itself; ORG then signs its entries client-side."""
    k = run(lambda: open_ledger().register_key(org, public_key))
    emit(k, as_json, f"registered {k['key_id']}")


@key_app.command("revoke")
def key_revoke(
    key_id: str,
    at: Annotated[str | None, typer.Option(help="effective time, ISO 8601 with offset; default now")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: entries recorded after the effective time fail verification."""

    def body() -> dict[str, Any]:
        effective = None
        if at is not None:
            try:
                effective = datetime.fromisoformat(at)
            except ValueError as exc:
                raise InputError(f"--at must be ISO 8601 like 2026-07-01T00:00:00+07:00, got {at!r}") from exc
        return open_ledger().revoke_key(key_id, effective, reason)  # type: ignore[no-any-return]

    k = run(body)
    emit(k, as_json, f"revoked {k['key_id']} from {k['revoked_at']}")


# --- products and lots ------------------------------------------------------------------


@product_app.command("create")
def product_create(
    org: str,
    gtin: Annotated[str | None, typer.Option()] = None,
    name_vi: Annotated[str | None, typer.Option()] = None,
    name_en: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    stars: Annotated[int | None, typer.Option(help="OCOP star rating 3-5")] = None,
    year: Annotated[int | None, typer.Option(help="year the OCOP stars were awarded")] = None,
    file: Annotated[Path | None, typer.Option(help="JSON file with the product (overrides the options)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a product of ORG."""
    from ledger.core.records import ProductCreate

    data = given(file, gtin=gtin, name_vi=name_vi, name_en=name_en, category=category, ocop_stars=stars, ocop_year=year)
    p = run(lambda: open_ledger().create_product(org, parse_model(ProductCreate, data, "product")))
    emit(p, as_json, f"product {p['gtin']} {p['name_vi']}")


@lot_app.command("create")
def lot_create(
    org: str,
    gtin: Annotated[str | None, typer.Option()] = None,
    code: Annotated[str | None, typer.Option(help="lot/batch number (GS1 AI 10)")] = None,
    province: Annotated[str | None, typer.Option()] = None,
    commune: Annotated[str | None, typer.Option()] = None,
    quantity: Annotated[float | None, typer.Option()] = None,
    unit: Annotated[str | None, typer.Option(help="UN/CEFACT unit code, e.g. KGM")] = None,
    file: Annotated[Path | None, typer.Option(help="JSON file with the lot (overrides the options)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a lot of one of ORG's products; its commissioning entry is signed and logged."""
    data = given(
        file, gtin=gtin, code=code, origin_province=province, origin_commune=commune, quantity=quantity, unit=unit
    )
    lot = run(lambda: open_ledger().create_lot(org, data))
    emit(lot, as_json, f"lot {lot['lot_id']} created (seq 0 logged)")


@lot_app.command("show")
def lot_show(lot_id: str, as_json: JsonOpt = False) -> None:
    """Show a lot and its entries."""

    def body() -> dict[str, Any]:
        from ledger.store import log as store
        from ledger.store.db import read_tx

        ledger = open_ledger()
        lot = ledger.get_lot(lot_id)
        with read_tx(ledger.engine) as conn:
            lot["entries"] = [
                {"seq": e.seq, "index": e.idx, "event": json.loads(e.event), "signer": e.signer}
                for e in store.lot_entries(conn, lot_id)
            ]
        return lot  # type: ignore[no-any-return]

    emit(run(body), True)


# --- events -----------------------------------------------------------------------------


@event_app.command("add")
def event_add(
    org: str,
    lot_id: str,
    file: Annotated[Path, typer.Option(help="JSON file with one EPCIS-shaped event ('-' for stdin)")],
    as_json: JsonOpt = False,
) -> None:
    """Record one event on a lot, signed with ORG's key."""
    event = read_json(file)
    res = run(lambda: open_ledger().record(org, [{"lot": lot_id, "event": event}]))
    emit(res[0], as_json, f"recorded seq {res[0]['seq']} at log index {res[0]['index']}")


@event_app.command("batch")
def event_batch(
    org: str,
    file: Annotated[Path, typer.Argument(help='JSON list of {"lot": id, "event": {...}} or {"lot", "entry"}')],
    as_json: JsonOpt = False,
) -> None:
    """Record many events at once, all or nothing."""
    items = read_json(file)
    if not isinstance(items, list):
        fail("the batch file must hold a JSON list")
    res = run(lambda: open_ledger().record(org, items))
    emit(res, as_json, f"recorded {len(res)} events, log indexes {res[0]['index']}..{res[-1]['index']}")


# --- verification -----------------------------------------------------------------------


@app.command("verify")
def verify(lot_id: str, as_json: JsonOpt = False) -> None:
    """Verify a lot from the stored ledger: exit 0 verified or pending, 1 tampered, 3 not found."""
    from ledger.cli.chain import anchor_check_for

    def body() -> Any:
        ledger = open_ledger()
        return ledger.verify_lot(lot_id, anchor_check_for(ledger))

    report = run(body)
    emit(report.to_json(), as_json, describe(report))
    raise typer.Exit({"verified": 0, "pending": 0, "tampered": 1, "not_found": 3}[report.verdict])


def describe(report: Any) -> str:
    lines = [f"lot {report.lot}: {report.verdict.upper()} (log size {report.tree_size})"]
    for e in report.entries:
        marks = " ".join(f"{k}:{v}" for k, v in e.checks.items())
        lines.append(f"  seq {e.seq:>3}  index {e.index:>6}  {e.biz_step:<18} {marks}")
    if report.failure:
        f = report.failure
        lines.append(f"  FAILED {f.check} at seq {f.seq} (index {f.index}): {f.message}")
    return "\n".join(lines)


def main() -> None:
    from ledger.cli import api_keys as cli_api
    from ledger.cli import chain as cli_chain
    from ledger.cli import tools as cli_tools

    cli_chain.register(app)
    cli_tools.register(app)
    cli_api.register(app)
    from ledger.cli import accounts as cli_accounts  # console accounts (issue 14)

    cli_accounts.register(app)
    try:
        app()
    except VerificationError as exc:  # pragma: no cover - last resort
        fail(str(exc), 1)
