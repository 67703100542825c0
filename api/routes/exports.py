"""Exporter routes: shipments, lineage, FSMA 204, EUDR, EPCIS 2.0, certificates, CSV import.

Built by ``make_router(get_ledger, require_role)`` so the app decides how the ledger and the caller
are found: ``get_ledger`` is a FastAPI dependency returning the ``Ledger``; ``require_role(*roles)``
returns a dependency that yields the caller (with ``org_id``) or raises for other roles.
Errors are ledger errors (``InputError`` -> 4xx), mapped by the app's one exception handler.
"""

# no "from __future__ import annotations": FastAPI must see the local Depends aliases

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger.errors import InputError
from ledger.exports import certificate, epcis, eudr, eudr_dds, fsma204
from ledger.exports.csv_import import import_csv
from ledger.store import lineage as lineage_mod
from ledger.store import shipments
from ledger.store.db import read_tx

PDF, GEOJSON, LD = "application/pdf", "application/geo+json", "application/ld+json"


def _org(who: Any) -> Any:
    return getattr(who, "org_id", None) or (who.get("org_id") if isinstance(who, dict) else who)


def _role(who: Any) -> str | None:
    """The caller's API-key role, handed to the append path where ``ledger.core.policy`` decides."""
    role = getattr(who, "role", None) or (who.get("role") if isinstance(who, dict) else None)
    return None if role is None else str(role)


def _no_chain() -> None:
    return None


def make_router(
    get_ledger: Callable[..., Any],
    require_role: Callable[..., Any],
    get_anchor_check: Callable[..., Any] | None = None,
) -> APIRouter:  # noqa: C901
    """``get_anchor_check`` (optional dependency) gives the ``AnchorCheck`` verdicts use; default none."""
    from api.idempotency import IdempotentRoute
    from api.schemas import errors

    # documented so that clients (and the fuzzer) know every status these routes give
    router = APIRouter(tags=["exporter"], responses=errors(400, 404, 422, 429), route_class=IdempotentRoute)
    writes = errors(401, 403, 409, 413)
    LedgerDep = Annotated[Any, Depends(get_ledger)]
    Check = Annotated[Any, Depends(get_anchor_check or _no_chain)]
    # which events the caller may record is decided by ledger.core.policy in the append path, as for /events
    Writer = Annotated[Any, Depends(require_role("exporter", "producer", "admin"))]

    def read(ledger: Any, fn: Callable[[Any], Any]) -> Any:
        with read_tx(ledger.engine) as conn:
            return fn(conn)

    @router.get("/api/v1/lots/{lot_id}/lineage")
    def lot_lineage(lot_id: str, ledger: LedgerDep, direction: Literal["up", "down"] = "up") -> dict[str, Any]:
        """Lots this lot was made from (up) or made into (down), recursively, with quantities."""
        return dict(read(ledger, lambda c: lineage_mod.lineage(c, lot_id, direction)))

    @router.get("/api/v1/shipments/{sscc}")
    def get_shipment(sscc: str, ledger: LedgerDep, check: Check) -> dict[str, Any]:
        """The shipment and its lots, derived from the signed aggregation events, with each lot's verdict."""
        data = read(ledger, lambda c: shipments.get_shipment(c, sscc))
        verdicts = [ledger.verify_lot(m["lot"], check).verdict for m in data["lots"]]
        order = ["tampered", "not_found", "unverifiable", "pending", "verified"]
        data["verdict"] = next((v for v in order if v in verdicts), "pending")
        data["lot_verdicts"] = dict(zip([m["lot"] for m in data["lots"]], verdicts, strict=True))
        return dict(data)

    @router.get("/00/{sscc}", include_in_schema=False)  # the app serves api.routes.shipment first
    def sscc_link(sscc: str, ledger: LedgerDep, check: Check) -> dict[str, Any]:
        """GS1 Digital Link of a logistic unit: the shipment as JSON."""
        return get_shipment(sscc, ledger, check)

    @router.get("/api/v1/lots/{lot_id}/eudr-dds")
    def lot_eudr_dds(lot_id: str, ledger: LedgerDep) -> dict[str, Any]:
        """EUDR due diligence statement data for a lot: HS heading, quantity, country, plots, producers."""
        return dict(read(ledger, lambda c: eudr_dds.statement(c, lot=lot_id)))

    @router.get("/api/v1/shipments/{sscc}/eudr-dds")
    def shipment_eudr_dds(sscc: str, ledger: LedgerDep) -> dict[str, Any]:
        """EUDR due diligence statement data for the lots in a shipment."""
        return dict(read(ledger, lambda c: eudr_dds.statement(c, sscc=sscc)))

    @router.post("/api/v1/shipments/{sscc}/pack", responses=writes)
    def pack(
        sscc: str,
        ledger: LedgerDep,
        who: Writer,
        body: Annotated[
            dict[str, Any],
            Body(examples=[{"lots": ["08930000010025.DL-FROZEN-1"], "event_time": "2026-07-08T09:00:00+07:00"}]),
        ],
    ) -> list[dict[str, Any]]:
        """Pack lots into the shipment: one signed AggregationEvent (ADD) per lot."""
        lots, when = body.get("lots"), body.get("event_time")
        if not isinstance(lots, list) or not isinstance(when, str):
            raise InputError("expected {'lots': [lot id, ...], 'event_time': ISO 8601}", field="lots")
        return shipments.pack(
            ledger, _org(who), sscc, lots, event_time=when, read_point=body.get("read_point"), role=_role(who)
        )

    @router.post("/api/v1/shipments/{sscc}/unpack", responses=writes)
    def unpack(
        sscc: str, ledger: LedgerDep, who: Writer, body: Annotated[dict[str, Any], Body()]
    ) -> list[dict[str, Any]]:
        """Take lots (default all) out of the shipment: one signed AggregationEvent (DELETE) per lot."""
        when = body.get("event_time")
        if not isinstance(when, str):
            raise InputError("expected {'event_time': ISO 8601, 'lots'?: [...]}", field="event_time")
        return shipments.unpack(ledger, _org(who), sscc, body.get("lots"), event_time=when, role=_role(who))

    @router.get("/api/v1/exports/fsma204")
    def fsma(
        ledger: LedgerDep,
        lot: str | None = None,
        sscc: str | None = None,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        format: Literal["csv", "xlsx"] = "csv",
    ) -> Response:
        """FDA FSMA 204 sortable spreadsheet (CSV or XLSX) for a lot, a shipment or a date range."""
        rows = read(ledger, lambda c: fsma204.rows_for(c, lot=lot, sscc=sscc, start=start, end=end))
        if format == "xlsx":
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return Response(fsma204.to_xlsx(rows), media_type=media, headers=_attach("fsma204.xlsx"))
        return Response(fsma204.to_csv(rows), media_type="text/csv; charset=utf-8", headers=_attach("fsma204.csv"))

    @router.get("/api/v1/exports/eudr")
    def eudr_export(ledger: LedgerDep, sscc: str | None = None, lot: str | None = None) -> Response:
        """EUDR GeoJSON FeatureCollection of the production plots behind a shipment."""
        fc = read(ledger, lambda c: eudr.feature_collection(c, sscc=sscc, lot=lot))
        return Response(json.dumps(fc, ensure_ascii=False), media_type=GEOJSON, headers=_attach("eudr.geojson"))

    @router.get("/api/v1/lots/{lot_id}/epcis")
    def lot_epcis(lot_id: str, ledger: LedgerDep, upstream: bool = False) -> Response:
        """The lot's events as an EPCIS 2.0 JSON-LD document; eventID = CBV 2.0 Event Hash ID."""
        doc = read(ledger, lambda c: epcis.lot_document(c, lot_id, upstream=upstream))
        return Response(json.dumps(doc, ensure_ascii=False), media_type=LD)

    @router.get("/api/v1/shipments/{sscc}/epcis")
    def shipment_epcis(sscc: str, ledger: LedgerDep) -> Response:
        doc = read(ledger, lambda c: epcis.shipment_document(c, sscc))
        return Response(json.dumps(doc, ensure_ascii=False), media_type=LD)

    def _pdf(request: Request, ledger: Any, check: Any, **subject: Any) -> Response:
        base = str(request.base_url).rstrip("/")
        pdf = certificate.render(certificate.build(ledger, base_url=base, anchor_check=check, **subject))
        return Response(pdf, media_type=PDF, headers=_attach("certificate.pdf"))

    @router.get("/api/v1/lots/{lot_id}/certificate.pdf")
    def lot_certificate(lot_id: str, request: Request, ledger: LedgerDep, check: Check) -> Response:
        """Provenance certificate PDF (Vietnamese and English) of a lot."""
        return _pdf(request, ledger, check, lot=lot_id)

    @router.get("/api/v1/shipments/{sscc}/certificate.pdf")
    def shipment_certificate(sscc: str, request: Request, ledger: LedgerDep, check: Check) -> Response:
        """Provenance certificate PDF of a shipment and every lot behind it."""
        return _pdf(request, ledger, check, sscc=sscc)

    @router.post("/api/v1/import", responses=writes)
    async def import_rows(request: Request, ledger: LedgerDep, who: Writer) -> dict[str, Any]:
        """CSV import (body ``text/csv``, docs/import.md): every row checked, then all stored or none."""
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError("the CSV must be UTF-8", field="body") from exc
        return {"recorded": import_csv(ledger, _org(who), text, role=_role(who))}

    return router


def _attach(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}
