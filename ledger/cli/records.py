"""The ledger's records on the command line: ``org``, ``key``, ``product``, ``lot``, ``event`` and
``verify``.

Every command builds its ``Settings`` and ``Ledger`` when it runs (nothing at import time),
prints a readable result or, with ``--json``, one JSON document, and exits non-zero on error
with the error's message on stderr.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import JsonOpt, anchor_check, emit, fail, given, open_ledger, parse_model, read_json, run
from ledger.errors import InputError

# --- organizations ----------------------------------------------------------------------


def org_create(
    name: str,
    kind: Annotated[
        str | None,
        typer.Option(help="cooperative | company | inspector | exporter | authority | operator (default: from --role)"),
    ] = None,
    province: Annotated[str | None, typer.Option()] = None,
    slug: Annotated[str | None, typer.Option(help="short id; derived from the name if absent")] = None,
    gs1_prefix: Annotated[
        list[str] | None,
        typer.Option("--gs1-prefix", help="a GS1 company prefix the organization holds (repeatable)"),
    ] = None,
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
            OrganizationCreate,
            {"name": name, "kind": the_kind, "province": province, "slug": slug, "gs1_prefixes": gs1_prefix or []},
            "org",
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


def org_prefixes(
    org: str,
    gs1_prefix: Annotated[
        list[str] | None, typer.Option("--gs1-prefix", help="the prefixes it holds from now on (repeatable)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace ORG's GS1 company prefixes (none: it declares none); products' GTINs must lie under them."""
    from ledger.core.records import OrganizationPrefixes

    def body() -> dict[str, Any]:
        data = parse_model(OrganizationPrefixes, {"gs1_prefixes": gs1_prefix or []}, "org")
        out: dict[str, Any] = open_ledger().set_gs1_prefixes(org, data.gs1_prefixes)
        return out

    res = run(body)
    emit(res, as_json, f"{res['slug']}: GS1 company prefixes {', '.join(res['gs1_prefixes']) or '(none)'}")


def org_list(as_json: JsonOpt = False) -> None:
    """List organizations."""
    orgs = run(lambda: open_ledger().list_orgs())
    lines = [f"{o['id']:>4}  {o['slug']:<40} {o['kind']:<12} {o['province'] or ''}" for o in orgs]
    emit(orgs, as_json, "\n".join(lines) or "no organizations yet")


def org_show(org: str, as_json: JsonOpt = False) -> None:
    """Show one organization and its keys."""
    emit(run(lambda: open_ledger().get_org(org)), True)


# --- keys -------------------------------------------------------------------------------


def key_generate(org: str, as_json: JsonOpt = False) -> None:
    """Generate a new server-held key for ORG; the previous active key is retired (rotation)."""
    k = run(lambda: open_ledger().generate_key(org))
    emit(k, as_json, f"new active key {k['key_id']} (previous key retired; its entries stay valid)")


def key_register(
    org: str,
    public_key: Annotated[str, typer.Argument(help="base64 raw Ed25519 public key")],
    pop: Annotated[
        str | None,
        typer.Option(help="proof of possession: base64 Ed25519 signature of `key pop-statement` by the key"),
    ] = None,
    effective: Annotated[
        str | None, typer.Option(help="registration time, RFC 3339 UTC like 2026-07-01T00:00:00Z (as signed)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a public key ORG holds itself; ORG then signs its entries client-side.

    The key proves possession: sign the bytes `ocop-ledger key pop-statement ORG KEY --effective T`
    prints with the key, and pass the signature as --pop with the same --effective.
    """
    k = run(lambda: open_ledger().register_key(org, public_key, pop=pop, effective=effective))
    emit(k, as_json, f"registered {k['key_id']}")


def key_pop_statement(
    org: str,
    public_key: Annotated[str, typer.Argument(help="base64 raw Ed25519 public key")],
    effective: Annotated[str, typer.Option(help="registration time, RFC 3339 UTC like 2026-07-01T00:00:00Z")],
) -> None:
    """Print the registration statement (RFC 8785 bytes) the key signs as its proof of possession."""
    from ledger.core import statements

    stmt = run(lambda: open_ledger().registration_statement(org, public_key, effective))
    typer.echo(statements.statement_bytes(stmt).decode())


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


def product_create(
    org: str,
    gtin: Annotated[str | None, typer.Option()] = None,
    name_vi: Annotated[str | None, typer.Option()] = None,
    name_en: Annotated[str | None, typer.Option()] = None,
    name_zh: Annotated[str | None, typer.Option(help="the product's name in Chinese")] = None,
    name_ja: Annotated[str | None, typer.Option(help="the product's name in Japanese")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    brand: Annotated[str | None, typer.Option()] = None,
    net_content: Annotated[
        str | None, typer.Option(help="value and UN/ECE unit code, e.g. '500 GRM' or '1.5 LTR'")
    ] = None,
    image: Annotated[
        list[Path] | None, typer.Option(help="a JPEG, PNG or WebP image of the product (repeatable)")
    ] = None,
    stars: Annotated[int | None, typer.Option(help="OCOP star rating 3-5")] = None,
    year: Annotated[int | None, typer.Option(help="year the OCOP stars were awarded")] = None,
    file: Annotated[Path | None, typer.Option(help="JSON file with the product (overrides the options)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a product of ORG (images are stored by their SHA-256 and signed in the product's entry)."""
    from ledger.core.records import ProductCreate

    def body() -> dict[str, Any]:
        data = given(file, gtin=gtin, name_vi=name_vi, name_en=name_en, name_zh=name_zh, name_ja=name_ja,
                     category=category, brand=brand, net_content=_net_content(net_content), ocop_stars=stars,
                     ocop_year=year)  # fmt: skip
        ledger = open_ledger()
        if image and file is None:
            data["images"] = [ledger.store_product_image(_read_image(path))["sha256"] for path in image]
        return ledger.create_product(org, parse_model(ProductCreate, data, "product"))  # type: ignore[no-any-return]

    p = run(body)
    emit(p, as_json, f"product {p['gtin']} {p['name_vi']}")


def _net_content(text: str | None) -> dict[str, Any] | None:
    """'500 GRM' -> {"value": 500, "unit": "GRM"} (validated with the product)."""
    if text is None:
        return None
    value, _, unit = text.strip().partition(" ")
    try:
        number: int | float = int(value) if value.isdigit() else float(value)
    except ValueError:
        raise InputError(f"net content: expected a number and a unit like '500 GRM', got {text!r}") from None
    return {"value": number, "unit": unit.strip()}


def _read_image(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the image {path}: {exc.strerror}", field="image") from exc


def product_update(
    org: str,
    file: Annotated[Path, typer.Option(help="JSON file with the product's whole new record (GTIN unchanged)")],
    as_json: JsonOpt = False,
) -> None:
    """Update a product of ORG: the log gets its next signed version; older lots keep theirs."""
    from ledger.core.records import ProductCreate

    def body() -> dict[str, Any]:
        data = parse_model(ProductCreate, given(file), "product")
        return open_ledger().update_product(org, data.gtin, data)  # type: ignore[no-any-return]

    p = run(body)
    emit(p, as_json, f"product {p['gtin']} updated")


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


def verify(lot_id: str, as_json: JsonOpt = False) -> None:
    """Verify a lot from the stored ledger: exit 0 verified, pending or unverifiable (valid so far, the
    chain could not be asked: the verdict says so), 1 tampered, 3 not found."""

    def body() -> Any:
        ledger = open_ledger()
        return ledger.verify_lot(lot_id, anchor_check(ledger))

    report = run(body)
    emit(report.to_json(), as_json, describe(report))
    raise typer.Exit({"verified": 0, "pending": 0, "unverifiable": 0, "tampered": 1, "not_found": 3}[report.verdict])


def describe(report: Any) -> str:
    lines = [f"lot {report.lot}: {report.verdict.upper()} (log size {report.tree_size})"]
    for e in report.entries:
        marks = " ".join(f"{k}:{v}" for k, v in e.checks.items())
        lines.append(f"  seq {e.seq:>3}  index {e.index:>6}  {e.biz_step:<18} {marks}")
    if report.failure:
        f = report.failure
        lines.append(f"  FAILED {f.check} at seq {f.seq} (index {f.index}): {f.message}")
    return "\n".join(lines)
