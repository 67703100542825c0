"""Exporter and auditor commands: export, import, audit, monitor, shipment and lineage.

``audit`` and ``monitor`` exit 0 when nothing differs, 1 on any finding, 2 on bad input.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import (
    Contract,
    JsonOpt,
    Out,
    Rpc,
    anchor_check,
    chain_reader,
    emit,
    fail,
    load_settings,
    open_ledger,
    read_conn,
    run,
    write_out,
)

# --- exports ------------------------------------------------------------------------------


def export_fsma(
    lot: Annotated[str | None, typer.Option(help="a lot id (with its input lots)")] = None,
    sscc: Annotated[str | None, typer.Option(help="a shipment (with its lots' input lots)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx")] = "csv",
    out: Out = None,
    strict: Annotated[bool, typer.Option("--strict", help="refuse to export if any required KDE is missing")] = False,
) -> None:
    """FDA FSMA 204 sortable spreadsheet of Critical Tracking Events and Key Data Elements."""
    from ledger.errors import InputError
    from ledger.exports import fsma204

    if fmt not in ("csv", "xlsx"):
        fail(f"--format must be csv or xlsx, got {fmt!r}")

    def body() -> bytes:
        try:
            d0, d1 = (date.fromisoformat(x) if x else None for x in (start, end))
        except ValueError as exc:
            raise InputError(f"dates must be YYYY-MM-DD: {exc}") from exc
        rows = read_conn(lambda c: fsma204.rows_for(c, lot=lot, sscc=sscc, start=d0, end=d1))
        if strict:
            fsma204.check_complete(rows)
        return fsma204.to_csv(rows) if fmt == "csv" else fsma204.to_xlsx(rows)

    write_out(run(body), out)


def export_eudr(
    sscc: Annotated[str | None, typer.Option(help="the shipment")] = None,
    lot: Annotated[str | None, typer.Option(help="or one lot")] = None,
    out: Out = None,
) -> None:
    """EUDR GeoJSON of the production plots behind a shipment (refuses points of 4 ha or more)."""
    from ledger.exports import eudr

    fc = run(lambda: read_conn(lambda c: eudr.feature_collection(c, sscc=sscc, lot=lot)))
    write_out(json.dumps(fc, ensure_ascii=False, indent=2).encode() + b"\n", out)


def export_eudr_dds(
    sscc: Annotated[str | None, typer.Option(help="the shipment")] = None,
    lot: Annotated[str | None, typer.Option(help="or one lot")] = None,
    out: Out = None,
) -> None:
    """EUDR due diligence statement data (HS heading, quantity, country, plots, producers) as JSON."""
    from ledger.exports import eudr_dds

    dds = run(lambda: read_conn(lambda c: eudr_dds.statement(c, sscc=sscc, lot=lot)))
    write_out(json.dumps(dds, ensure_ascii=False, indent=2).encode() + b"\n", out)


def export_epcis(
    lot: Annotated[str | None, typer.Argument(help="lot id")] = None,
    sscc: Annotated[str | None, typer.Option(help="a shipment instead of a lot")] = None,
    upstream: Annotated[bool, typer.Option(help="include the input lots' events")] = False,
    out: Out = None,
) -> None:
    """EPCIS 2.0 JSON-LD document; each event's eventID is its CBV 2.0 Event Hash ID."""
    from ledger.exports import epcis

    if (lot is None) == (sscc is None):
        fail("give a lot id or --sscc")

    def body(c: Any) -> Any:
        if sscc:
            return epcis.shipment_document(c, sscc)
        return epcis.lot_document(c, str(lot), upstream=upstream)

    doc = run(lambda: read_conn(body))
    write_out(json.dumps(doc, ensure_ascii=False, indent=2).encode() + b"\n", out)


def export_certificate(
    lot: Annotated[str | None, typer.Option(help="a lot id")] = None,
    sscc: Annotated[str | None, typer.Option(help="or a shipment")] = None,
    out: Annotated[Path, typer.Option("--output", "-o")] = Path("certificate.pdf"),
    rpc: Rpc = None,
) -> None:
    """Provenance certificate PDF (Vietnamese and English) with verdict, anchor and QR code."""
    from ledger.exports import certificate

    def body() -> bytes:
        settings = load_settings()
        ledger = open_ledger(settings)
        chain = chain_reader(rpc, None, settings) if rpc else None
        check = anchor_check(ledger, chain, settings)
        cert = certificate.build(ledger, base_url=settings.public_url, lot=lot, sscc=sscc, anchor_check=check)
        return certificate.render(cert)

    write_out(run(body), out)


def import_cmd(org: str, file: Path, as_json: JsonOpt = False) -> None:
    """Import events from a CSV file (docs/import.md): all rows are checked first, then all stored or none."""
    from ledger.errors import InputError
    from ledger.exports.csv_import import import_csv

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    try:
        res = import_csv(open_ledger(), org, text)
    except InputError as exc:
        if as_json:
            emit({"ok": False, "message": str(exc), "errors": exc.details}, True)
            raise typer.Exit(2) from exc
        lines = "".join(f"\n  - row {d['row']}, column {d['column'] or '-'}: {d['message']}" for d in exc.details[:50])
        fail(f"{exc}{lines}")
    emit(
        {"ok": True, "recorded": res},
        as_json,
        f"imported {len(res)} events, log indexes {res[0]['index']}..{res[-1]['index']}",
    )


def audit_cmd(
    as_json: JsonOpt = False,
    rpc: Rpc = None,
    contract: Contract = None,
    chunk: Annotated[int, typer.Option(help="entries read per query")] = 10_000,
    no_progress: Annotated[bool, typer.Option("--no-progress")] = False,
    processes: Annotated[
        int | None, typer.Option(min=1, help="worker processes checking signatures (default: the CPU count)")
    ] = None,
) -> None:
    """Audit the whole log from the database: every leaf, subtree, root, lot chain and anchor."""
    from ledger.audit.auditor import audit

    settings = load_settings()
    ledger = run(lambda: open_ledger(settings))
    chain = run(lambda: chain_reader(rpc, contract, settings))
    procs = processes or os.cpu_count() or 1
    if no_progress or as_json:
        report = run(lambda: audit(ledger.engine, chain=chain, chunk=chunk, processes=procs))
    else:
        with typer.progressbar(length=max(1, ledger.head().size), label="auditing", file=sys.stderr) as bar:
            done = [0]

            def step(n: int, total: int) -> None:
                bar.update(n - done[0])
                done[0] = n

            report = run(lambda: audit(ledger.engine, chain=chain, chunk=chunk, progress=step, processes=procs))
    emit(report.to_json(), as_json, describe_audit(report))
    raise typer.Exit(0 if report.ok else 1)


def describe_audit(report: Any) -> str:
    lines = [
        f"audited {report.entries} entries, {report.lots} lots, {report.anchors} anchors "
        f"in {report.seconds:.1f} s: " + ("OK, nothing differs" if report.ok else f"{len(report.findings)} finding(s)")
    ]
    lines += [
        f"  {f.check:<18} index {f.index if f.index is not None else '-':>8}  {f.lot or ''}  {f.message}"
        for f in report.findings
    ]
    return "\n".join(lines)


def monitor_cmd(
    url: str,
    rpc: Rpc = None,
    contract: Contract = None,
    state: Annotated[Path | None, typer.Option(help="state file; default ~/.ocop-ledger/monitor-<host>.json")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a ledger server's public log and anchors from outside; remember the verified head."""
    import httpx

    from ledger.audit.monitor import monitor

    path = state or Path.home() / ".ocop-ledger" / f"monitor-{httpx.URL(url).host or 'server'}.json"
    with httpx.Client(timeout=30.0, follow_redirects=True) as client:
        chain = None
        if rpc:
            addr = contract or _server_contract(client, url)
            chain = run(lambda: chain_reader(rpc, addr)) if addr else None
        rep = run(lambda: monitor(client, url, path, chain=chain))
    text = f"{url}: tree size {rep.tree_size}, {rep.entries_checked} new entries, {rep.anchors_checked} anchors: " + (
        "OK" if rep.ok else "FINDINGS"
    )
    text += "".join(
        f"\n  {f['check']:<18} {f['index'] if f['index'] is not None else '-':>8}  {f['message']}" for f in rep.findings
    )
    emit(rep.to_json(), as_json, text)
    raise typer.Exit(0 if rep.ok else 1)


def ship_pack(
    org: str,
    sscc: str,
    lots: list[str],
    time: Annotated[str, typer.Option(help="event time, ISO 8601 with offset")],
    as_json: JsonOpt = False,
) -> None:
    """Pack lots into the shipment SSCC (signed AggregationEvent ADD per lot)."""
    from ledger.store import shipments

    res = run(lambda: shipments.pack(open_ledger(), org, sscc, lots, event_time=time))
    emit(res, as_json, f"packed {len(res)} lot(s) into {sscc}")


def ship_unpack(
    org: str,
    sscc: str,
    lots: Annotated[list[str] | None, typer.Argument()] = None,
    time: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    """Take lots (default all) out of the shipment (signed AggregationEvent DELETE per lot)."""
    from ledger.store import shipments

    res = run(lambda: shipments.unpack(open_ledger(), org, sscc, lots or None, event_time=time))
    emit(res, as_json, f"unpacked {len(res)} lot(s) from {sscc}")


def ship_move(
    org: str,
    sscc: str,
    step: Annotated[str, typer.Argument(help="shipping | receiving")],
    time: Annotated[str, typer.Option()],
    party: Annotated[str | None, typer.Option(help="ship-to (shipping) or ship-from (receiving)")] = None,
    location: Annotated[
        str | None, typer.Option(help="where it happens: ship-from (shipping) or receiving location, ID[=NAME]")
    ] = None,
    doc: Annotated[
        list[str] | None, typer.Option(help="reference document TYPE:NUMBER (bol, inv, po, desadv…), repeatable")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record shipping or receiving of every lot in the shipment, with its reference documents."""
    from ledger.store import shipments

    def body() -> list[dict[str, Any]]:
        loc = shipments.location_arg(location) if location else None
        moved: list[dict[str, Any]] = open_ledger().move_shipment(
            org, sscc, step, event_time=time, party=party, location=loc, documents=doc or []
        )
        return moved

    res = run(body)
    emit(res, as_json, f"recorded {step} of {len(res)} lot(s) in {sscc}")


def ship_show(sscc: str) -> None:
    """The shipment and the lots in it (derived from the signed aggregation events)."""
    from ledger.store import shipments

    emit(run(lambda: read_conn(lambda c: shipments.get_shipment(c, sscc))), True)


def lineage_cmd(
    lot: str,
    direction: Annotated[str, typer.Option(help="up (inputs) | down (outputs)")] = "up",
    as_json: JsonOpt = False,
) -> None:
    """Transformation lineage of a lot, with quantities."""
    from ledger.store import lineage

    data = run(lambda: read_conn(lambda c: lineage.lineage(c, lot, direction)))  # type: ignore[arg-type]
    text = "\n".join(
        f"{'  ' * e['depth']}{e['input_lot']} ({e['input_quantity']} {e['input_uom'] or ''}) -> "
        f"{e['output_lot']} ({e['output_quantity']} {e['output_uom'] or ''}) at index {e['entry_idx']}"
        for e in data["edges"]
    )
    emit(data, as_json, text or f"{lot}: no {direction}stream lots")


def _server_contract(client: Any, url: str) -> str | None:
    """The contract address the server names in its newest anchor (checked against the chain later)."""
    try:
        cp = client.get(url.rstrip("/") + "/api/v1/log/checkpoint").json()
    except Exception:  # noqa: BLE001 - the monitor run reports the server error itself
        return None
    anchor = cp.get("anchor") or {}
    return anchor.get("contract")
