"""CLI commands around the HTTP API: ``api-key``, ``serve``, ``qr`` and ``verify-bundle``.

``serve`` hands uvicorn the import string ``ledger.cli.wiring:create_app_from_env``, so that every
worker process builds its own app (settings, ledger facade and chain reader from ``LEDGER_*``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import JsonOpt, emit, fail, load_settings, open_ledger, run
from ledger.errors import InputError

# --- API keys -----------------------------------------------------------------------------


def api_key_create(
    org: str,
    role: Annotated[str, typer.Option(help="producer | inspector | exporter | admin | authority")],
    label: Annotated[str | None, typer.Option(help="a note, e.g. which system uses the key")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for ORG; the key is printed once and stored only as a hash."""
    from ledger.store import apikeys
    from ledger.store.db import write_tx

    def body() -> dict[str, Any]:
        ledger = open_ledger()
        org_id = int(ledger.get_org(org)["id"])
        with write_tx(ledger.engine) as conn:
            return apikeys.create(conn, org_id, role, label)

    k = run(body)
    emit(k, as_json, f"API key {k['key_id']} ({k['role']}), shown only once:\n{k['token']}")


def api_key_list(org: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """List API keys (handles and roles, never the keys themselves)."""
    from ledger.store import apikeys
    from ledger.store.db import read_tx

    def body() -> list[dict[str, Any]]:
        ledger = open_ledger()
        org_id = int(ledger.get_org(org)["id"]) if org else None
        with read_tx(ledger.engine) as conn:
            return apikeys.list_keys(conn, org_id)

    keys = run(body)
    lines = [
        f"{k['key_id']}  org {k['org_id']:<4} {k['role']:<10} {'REVOKED' if k['revoked_at'] else 'active'}"
        for k in keys
    ]
    emit(keys, as_json, "\n".join(lines) or "no API keys")


def api_key_revoke(key_id: str, as_json: JsonOpt = False) -> None:
    """Revoke an API key: it is refused from the next request on."""
    from ledger.store import apikeys
    from ledger.store.db import write_tx

    def body() -> dict[str, Any]:
        with write_tx(open_ledger().engine) as conn:
            return apikeys.revoke(conn, key_id)

    k = run(body)
    emit(k, as_json, f"revoked API key {k['key_id']}")


# --- serve --------------------------------------------------------------------------------

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "api.app.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {
        "ocop": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "ledger": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def serve_api(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info") -> None:
    """Run the API under uvicorn (blocking); JSON log lines on stderr."""
    from api.config import ApiSettings
    from ledger.cli import workers as supervisor

    ApiSettings()  # a bad API setting stops here, with its name, before anything is opened or started
    open_ledger()  # migrate and check the master key once, before the workers start
    supervisor.serve(
        "ledger.cli.wiring:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=LOG_CONFIG,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        http="api.protocol:HttpProtocol",  # malformed or oversized requests get the JSON error body
    )


def serve(
    host: Annotated[str, typer.Option(help="address to listen on; 0.0.0.0 exposes it to the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
) -> None:
    """Serve the HTTP API and the consumer pages (uvicorn)."""
    run(lambda: serve_api(host, port, workers))


# --- QR codes -----------------------------------------------------------------------------


def qr_cmd(
    lots: Annotated[list[str], typer.Argument(help="lot ids, e.g. 08930000045676.PH-2026-07")],
    out: Annotated[Path | None, typer.Option(help="folder for <lot>.png and <lot>.svg")] = None,
    sheet: Annotated[Path | None, typer.Option(help="write an A4 label sheet PDF here")] = None,
    copies: Annotated[int | None, typer.Option(min=1, max=10000, help="labels per lot; default: fill a page")] = None,
    caption: Annotated[bool, typer.Option(help="print the lot id under the PNG/SVG code")] = True,
    as_json: JsonOpt = False,
) -> None:
    """QR codes of lots' GS1 Digital Links ({LEDGER_PUBLIC_URL}/01/{gtin}/10/{lot}) and label sheets."""
    from ledger.core import gs1
    from ledger.exports import qr

    if out is None and sheet is None:
        fail("give --out DIR and/or --sheet FILE.pdf")

    def body() -> dict[str, Any]:
        settings = load_settings()
        ledger = open_ledger(settings)
        written: list[str] = []
        labels = []
        for lot_id in lots:
            gtin, code = gs1.split_lot_id(lot_id)
            ledger.get_lot(f"{gtin}.{code}")
            product = ledger.get_product(gtin)
            url = gs1.digital_link(settings.public_url, gtin, code)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                stem = f"{gtin}.{code}".replace("/", "_")
                for ext, render in (("png", qr.png), ("svg", qr.svg)):
                    path = out / f"{stem}.{ext}"
                    path.write_bytes(render(url, f"{gtin}.{code}" if caption else None))
                    written.append(str(path))
            labels.append(qr.Label(url, str(product["name_vi"]), code, product.get("ocop_stars")))
        if sheet is not None:
            per_lot = copies or max(1, (qr.SHEET_COLS * qr.SHEET_ROWS) // len(labels))
            sheet.parent.mkdir(parents=True, exist_ok=True)
            sheet.write_bytes(qr.label_sheet_pdf([lb for lb in labels for _ in range(per_lot)]))
            written.append(str(sheet))
        return {"urls": [lb.url for lb in labels], "files": written}

    res = run(body)
    emit(res, as_json, "\n".join([*res["urls"], *(f"wrote {f}" for f in res["files"])]))


# --- verify-bundle ------------------------------------------------------------------------


VERDICT_EXIT = {"verified": 0, "tampered": 1, "unverifiable": 3}
"""``verify-bundle`` exit codes (``docs/bundle.md``): 0 verified, 1 tampered, 2 unusable input, 3 unverifiable."""


def verify_bundle_cmd(
    file: Annotated[Path, typer.Argument(help="proof bundle JSON ('-' for stdin)")],
    rpc: Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain the bundle names")],
    contract: Annotated[
        str | None, typer.Option(help="the anchoring contract you trust; without it the bundle's own is used")
    ] = None,
    trust: Annotated[
        str | None,
        typer.Option(help="the operator's /.well-known/ocop-ledger.json (file or URL): pins chain, contract, log key"),
    ] = None,
    require_latest: Annotated[
        bool, typer.Option("--require-latest", help="fail unless the bundle's anchor is the contract's latest")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a proof bundle with nothing but the file and the chain. Exit 0 verified, 1 tampered
    (the failed check is named), 2 unusable input (file, arguments, trust document), 3 unverifiable
    (another chain, contract or log key than the trusted one, or a chain that cannot answer)."""
    import sys

    from ledger.chain.rpc import RpcChain
    from ledger.core.bundle import verify_bundle

    pins = load_trust(trust) if trust else None
    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        fail(f"cannot read the bundle {file}: {exc}", 2)
    try:  # the bytes go to the verifier: its strict reader names a BOM, bad UTF-8 or a duplicate key
        report = verify_bundle(raw, RpcChain(rpc), contract=contract, trust=pins, require_latest=require_latest)
    except InputError as exc:
        fail(str(exc), 2)
    emit(report.to_json(), as_json, describe_bundle(report))
    raise typer.Exit(VERDICT_EXIT[report.verdict])


def load_trust(spec: str) -> Any:
    """The trust roots from a well-known document in a file or at a URL; exit 2 when unusable."""
    import urllib.request

    from ledger.core import strict_json
    from ledger.core.trust import trust_from_json
    from ledger.errors import VerificationError

    try:
        if spec.startswith(("http://", "https://")):
            with urllib.request.urlopen(spec, timeout=10) as resp:  # noqa: S310 - the user's trust URL
                raw = resp.read(1_000_000)
        else:
            raw = Path(spec).read_bytes()
        return trust_from_json(strict_json.loads(raw, "the trust document"), spec)
    except (OSError, VerificationError, InputError) as exc:
        fail(f"cannot use the trust roots {spec}: {exc}", 2)


def describe_bundle(report: Any) -> str:
    if getattr(report, "kind", "lot") == "shipment":
        lines = [f"shipment {report.sscc}: {report.verdict.upper()}"]
    else:
        lines = [f"lot {report.lot}: {report.verdict.upper()}"]
    if report.tree_size is not None:
        lines.append(f"  {report.entries} entries, tree size {report.tree_size}, root {report.root}")
    if len(getattr(report, "lots", [])) > 1 or getattr(report, "kind", "lot") == "shipment":
        lines.append(f"  lots (with upstream inputs): {', '.join(report.lots)}")
    if report.anchor:
        a = report.anchor
        lines.append(
            f"  anchor: chain {a.get('chain_id')} contract {a.get('contract')} ({report.contract_source}) "
            f"block {a.get('block_number')} tx {a.get('tx_hash')}"
        )
    if getattr(report, "trust", None):
        t = report.trust
        lines.append(f"  trusted roots ({t['source']}): chain {t['chain_id']} contract {t['contract']}")
    if getattr(report, "latest", None) is not None:
        lines.append("  latest anchor: " + ("yes" if report.latest else "NO - newer history may exist"))
    lines.append("  checks: " + "  ".join(f"{k}:{v}" for k, v in report.checks.items()))
    for lot, info in sorted(((getattr(report, "facts", None) or {}).get("lots") or {}).items()):
        for kind, fact in sorted((info.get("codes") or {}).items()):
            lines.append(f"  {lot} {kind.replace('_', ' ')} {fact['code']}: {fact['says']}")
    if report.failure:
        f = report.failure
        where = f" at seq {f['seq']} (index {f['index']})" if f.get("seq") is not None else ""
        if f.get("lot"):
            where = f" in lot {f['lot']}{where}"
        lines.append(f"  FAILED {f['check']}{where}: {f['message']}")
    return "\n".join(lines)
