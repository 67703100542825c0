"""Public reads: lots, verdicts, proof bundles, QR codes, the log for auditors, anchors, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Svc, lot_or_input_error
from api.headers import attachment
from api.schemas import (
    AnchorsPublic,
    Checkpoint,
    ConsistencyOut,
    Health,
    LogEntries,
    LotPublic,
    VerifyReport,
    errors,
)
from ledger.core import gs1

router = APIRouter(responses=errors(404, 422, 429))
JSON = "application/json"


@router.get("/api/v1/lots/{lot_id:path}/verify", response_model=VerifyReport, tags=["lots"])
async def verify_lot(lot_id: str, svc: Svc) -> Response:
    """The lot's verdict — verified, pending, tampered or not_found — with every check of every event
    (record, signature, key, chain link, leaf, inclusion, anchor on chain). Cached per log tree head."""
    lot = lot_or_input_error(lot_id)
    report, body = await svc.report_async(lot)
    if report.verdict == "not_found":
        data = {**report.to_json(), "error": {"code": "not_found", "message": f"no lot {lot!r}"}}
        return JSONResponse(data, status_code=404)
    return Response(body, media_type=JSON)


@router.get(
    "/api/v1/lots/{lot_id:path}/bundle",
    tags=["lots"],
    responses={
        200: {
            "description": "proof bundle, ocop-ledger-bundle version 1, or version 2 (kind lot) "
            "with the lots it was made from (docs/bundle.md)"
        },
        **errors(409),
    },
)
def lot_bundle(lot_id: str, svc: Svc) -> JSONResponse:
    """The self-contained proof bundle: entries, public keys, inclusion proofs to one anchored tree head,
    and the anchor (chain id, contract, transaction, block). 409 until the lot's newest entry is anchored."""
    lot = lot_or_input_error(lot_id)
    return JSONResponse(svc.bundle(lot), headers=attachment(f"bundle-{lot}.json"))


def _qr(svc: Svc, lot_id: str, kind: str, caption: bool) -> bytes:
    lot = lot_or_input_error(lot_id)
    key = (lot, kind, caption)
    hit = svc.qr.get(key)
    if hit is not None:
        return hit
    svc.ledger.get_lot(lot)  # 404 for unknown lots
    gtin, code = gs1.split_lot_id(lot)
    url = gs1.digital_link(svc.settings.public_url, gtin, code)
    data = svc.ledger.qr_code("png" if kind == "png" else "svg", url, lot if caption else None)
    svc.qr.put(key, data)
    return data


Caption = Annotated[bool, Query(description="print the lot id under the code")]


@router.get(
    "/api/v1/lots/{lot_id:path}/qr.png",
    tags=["qr"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "QR code of the lot's GS1 Digital Link"}},
)
def lot_qr_png(lot_id: str, svc: Svc, caption: Caption = False) -> Response:
    """QR code (PNG, error correction M, quiet zone 4) of ``{LEDGER_PUBLIC_URL}/01/{gtin}/10/{lot}``."""
    return Response(_qr(svc, lot_id, "png", caption), media_type="image/png", headers=_cache_headers())


@router.get(
    "/api/v1/lots/{lot_id:path}/qr.svg",
    tags=["qr"],
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "QR code of the lot's GS1 Digital Link"}},
)
def lot_qr_svg(lot_id: str, svc: Svc, caption: Caption = False) -> Response:
    """QR code (SVG) of the lot's GS1 Digital Link."""
    return Response(_qr(svc, lot_id, "svg", caption), media_type="image/svg+xml", headers=_cache_headers())


def _cache_headers() -> dict[str, str]:
    return {"Cache-Control": "public, max-age=86400"}


@router.get("/api/v1/lots/{lot_id:path}", response_model=LotPublic, tags=["lots"])
def get_lot(lot_id: str, svc: Svc) -> dict[str, Any]:
    """A lot: master data, product, producer and its signed entries (unverified; see /verify)."""
    return svc.lot_json(lot_or_input_error(lot_id))


# --- the log, for auditors ------------------------------------------------------------------


@router.get("/api/v1/log/checkpoint", response_model=Checkpoint, tags=["log"])
def checkpoint(svc: Svc) -> dict[str, Any]:
    """The log's current tree head (size, RFC 9162 root) and its newest anchor on chain."""
    return svc.ledger.checkpoint(svc.chain_ids(), svc.settings.explorer_url)


@router.get("/api/v1/log/entries", response_model=LogEntries, tags=["log"])
def log_entries(
    svc: Svc,
    start: Annotated[int, Query(ge=0, le=2**62, description="first log index")],
    end: Annotated[
        int | None, Query(ge=1, le=2**62, description="one past the last index; default start + 100")
    ] = None,
) -> dict[str, Any]:
    """Entries ``[start, end)`` of the log, at most ``LEDGER_ENTRIES_PAGE_MAX`` (1000) per page."""
    return svc.ledger.log_entries(start, end, svc.api.entries_page_max)


@router.get("/api/v1/log/consistency", response_model=ConsistencyOut, tags=["log"])
def log_consistency(
    svc: Svc,
    first: Annotated[int, Query(ge=1, le=2**62, description="the older tree size")],
    second: Annotated[int, Query(ge=1, le=2**62, description="the newer tree size")],
) -> dict[str, Any]:
    """RFC 9162 consistency proof from tree size ``first`` to ``second`` (both ≤ the log's size)."""
    return svc.ledger.consistency(first, second)


@router.get("/api/v1/anchors", response_model=AnchorsPublic, tags=["log"])
def anchors(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="only anchors of smaller tree sizes (paging)")
    ] = None,
) -> dict[str, Any]:
    """Confirmed anchors of the log on chain, newest first."""
    rows = svc.ledger.anchors(svc.chain_ids(), svc.settings.explorer_url, limit, before)
    return {"anchors": rows, "count": len(rows)}


# --- operations -----------------------------------------------------------------------------


@router.get("/healthz", response_model=Health, tags=["ops"])
async def healthz(svc: Svc) -> dict[str, Any]:
    """Liveness and database reachability (one small read)."""
    return {"status": "ok", "tree_size": svc.log_size()}


@router.get("/metrics", tags=["ops"], response_class=Response)
def metrics(request: Request, svc: Svc) -> Response:
    """Prometheus metrics: requests by route and status, latencies, log size, cache hits."""
    m = request.app.state.metrics
    status = svc.ledger.anchoring_status(svc.chain_ids(), svc.settings.explorer_url)  # one read transaction
    m.log_size.set(status["tree_size"])
    m.anchored_size.set(status["anchored_size"])
    m.cache_hits.set(svc.verdicts.hits)
    m.cache_misses.set(svc.verdicts.misses)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
