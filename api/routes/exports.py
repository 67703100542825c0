"""Exporter routes: shipments, lineage, FSMA 204, EUDR, EPCIS 2.0, certificates, CSV import.

Built by ``make_router(get_ledger, require_role)`` so the app decides how the ledger and the caller
are found: ``get_ledger`` is a FastAPI dependency returning the ``Ledger`` facade, the routes' one
door to the store and the exports; ``require_role(*roles)``
returns a dependency that yields the caller (with ``org_id``) or raises for other roles.
Errors are ledger errors (``InputError`` -> 4xx), mapped by the app's one exception handler.
"""

# no "from __future__ import annotations": FastAPI must see the local Depends aliases

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from api.headers import attachment
from api.i18n import pick_lang
from ledger.errors import InputError

PDF, GEOJSON, LD = "application/pdf", "application/geo+json", "application/ld+json"
CSV, XLSX = "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file(*media: str, binary: bool = False) -> dict[str, Any]:
    """Route options documenting a 200 that is a file of ``media`` types, not JSON."""
    schema = {"type": "string", "format": "binary"} if binary else {}
    content = {m: {"schema": schema} for m in media}
    return {"response_class": Response, "responses": {200: {"description": "the file", "content": content}}}


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
) -> APIRouter:
    """``get_anchor_check`` (optional dependency) gives the ``AnchorCheck`` verdicts use; default none."""
    from api.idempotency import IdempotentRoute
    from api.schemas import errors

    # documented so that clients (and the fuzzer) know every status these routes give
    router = APIRouter(tags=["exporter"], responses=errors(400, 404, 422, 429), route_class=IdempotentRoute)
    check = get_anchor_check or _no_chain
    # which events the caller may record is decided by ledger.core.policy in the append path, as for /events
    writer = require_role("exporter", "producer", "admin")
    writes = errors(401, 403, 409, 413)
    _read_routes(router, get_ledger, check)  # registration order is the routes' matching order
    _pack_routes(router, get_ledger, writer, writes)
    _file_routes(router, get_ledger, check)
    _import_route(router, get_ledger, writer, writes)
    return router


def _read_routes(router: APIRouter, get_ledger: Callable[..., Any], get_check: Callable[..., Any]) -> None:
    """Lineage, shipments (also at ``/00/{sscc}``) and EUDR due diligence statements."""
    LedgerDep = Annotated[Any, Depends(get_ledger)]
    Check = Annotated[Any, Depends(get_check)]

    @router.get("/api/v1/lots/{lot_id}/lineage")
    def lot_lineage(lot_id: str, ledger: LedgerDep, direction: Literal["up", "down"] = "up") -> dict[str, Any]:
        """Lots this lot was made from (up) or made into (down), recursively, with quantities."""
        return ledger.lineage(_lot(lot_id), direction)  # type: ignore[no-any-return]

    @router.get("/api/v1/shipments/{sscc}")
    def get_shipment(sscc: str, ledger: LedgerDep, check: Check) -> dict[str, Any]:
        """The shipment and its lots, derived from the signed aggregation events, with each lot's verdict."""
        data = ledger.shipment(sscc)
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
        return ledger.eudr_dds(lot=lot_id)  # type: ignore[no-any-return]

    @router.get("/api/v1/shipments/{sscc}/eudr-dds")
    def shipment_eudr_dds(sscc: str, ledger: LedgerDep) -> dict[str, Any]:
        """EUDR due diligence statement data for the lots in a shipment."""
        return ledger.eudr_dds(sscc=sscc)  # type: ignore[no-any-return]


def _pack_routes(
    router: APIRouter, get_ledger: Callable[..., Any], writer: Callable[..., Any], writes: dict[int | str, Any]
) -> None:
    """Packing lots into a shipment and taking them out: signed AggregationEvents."""
    LedgerDep = Annotated[Any, Depends(get_ledger)]
    Writer = Annotated[Any, Depends(writer)]

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
        return ledger.pack(  # type: ignore[no-any-return]
            _org(who), sscc, lots, event_time=when, read_point=body.get("read_point"), role=_role(who)
        )

    @router.post("/api/v1/shipments/{sscc}/unpack", responses=writes)
    def unpack(
        sscc: str, ledger: LedgerDep, who: Writer, body: Annotated[dict[str, Any], Body()]
    ) -> list[dict[str, Any]]:
        """Take lots (default all) out of the shipment: one signed AggregationEvent (DELETE) per lot."""
        when = body.get("event_time")
        if not isinstance(when, str):
            raise InputError("expected {'event_time': ISO 8601, 'lots'?: [...]}", field="event_time")
        return ledger.unpack(  # type: ignore[no-any-return]
            _org(who), sscc, body.get("lots"), event_time=when, role=_role(who)
        )


def _file_routes(router: APIRouter, get_ledger: Callable[..., Any], get_check: Callable[..., Any]) -> None:
    """Files: FSMA 204 spreadsheets, EUDR GeoJSON, EPCIS 2.0 documents, certificates."""
    LedgerDep = Annotated[Any, Depends(get_ledger)]
    Check = Annotated[Any, Depends(get_check)]

    @router.get("/api/v1/exports/fsma204", **_file(CSV, XLSX, binary=True))
    def fsma(
        ledger: LedgerDep,
        lot: str | None = None,
        sscc: str | None = None,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        format: Literal["csv", "xlsx"] = "csv",
        strict: bool = False,
    ) -> Response:
        """FDA FSMA 204 sortable spreadsheet (CSV or XLSX) for a lot, a shipment or a date range;
        ``strict=true`` refuses (422, every gap in ``details``) when any required KDE is missing."""
        body, media = ledger.fsma204(lot=lot, sscc=sscc, start=start, end=end, format=format, strict=strict)
        return Response(body, media_type=media, headers=_attach(f"fsma204.{format}"))

    @router.get("/api/v1/exports/eudr", **_file(GEOJSON))
    def eudr_export(ledger: LedgerDep, sscc: str | None = None, lot: str | None = None) -> Response:
        """EUDR GeoJSON FeatureCollection of the production plots behind a shipment."""
        fc = ledger.eudr_geojson(sscc=sscc, lot=lot)
        return Response(json.dumps(fc, ensure_ascii=False), media_type=GEOJSON, headers=_attach("eudr.geojson"))

    @router.get("/api/v1/lots/{lot_id}/epcis", **_file(LD))
    def lot_epcis(lot_id: str, ledger: LedgerDep, upstream: bool = False) -> Response:
        """The lot's events as an EPCIS 2.0 JSON-LD document; eventID = CBV 2.0 Event Hash ID."""
        doc = ledger.epcis_lot(_lot(lot_id), upstream=upstream)
        return Response(json.dumps(doc, ensure_ascii=False), media_type=LD)

    @router.get("/api/v1/shipments/{sscc}/epcis", **_file(LD))
    def shipment_epcis(sscc: str, ledger: LedgerDep) -> Response:
        doc = ledger.epcis_shipment(sscc)
        return Response(json.dumps(doc, ensure_ascii=False), media_type=LD)

    def _pdf(request: Request, ledger: Any, check: Any, **subject: Any) -> Response:
        base = str(request.base_url).rstrip("/")
        pdf = ledger.certificate_pdf(base, check, **subject)
        return Response(pdf, media_type=PDF, headers=_attach("certificate.pdf"))

    @router.get("/api/v1/lots/{lot_id}/certificate.pdf", **_file(PDF, binary=True))
    def lot_certificate(lot_id: str, request: Request, ledger: LedgerDep, check: Check) -> Response:
        """Provenance certificate PDF (Vietnamese and English) of a lot."""
        return _pdf(request, ledger, check, lot=_lot(lot_id))

    @router.get("/api/v1/shipments/{sscc}/certificate.pdf", **_file(PDF, binary=True))
    def shipment_certificate(sscc: str, request: Request, ledger: LedgerDep, check: Check) -> Response:
        """Provenance certificate PDF of a shipment and every lot behind it."""
        return _pdf(request, ledger, check, sscc=sscc)


def _import_route(
    router: APIRouter, get_ledger: Callable[..., Any], writer: Callable[..., Any], writes: dict[int | str, Any]
) -> None:
    LedgerDep = Annotated[Any, Depends(get_ledger)]
    Writer = Annotated[Any, Depends(writer)]

    @router.post(
        "/api/v1/import",
        responses=writes,
        openapi_extra={"requestBody": {"required": True, "content": {CSV: {"schema": {"type": "string"}}}}},
    )
    async def import_rows(request: Request, ledger: LedgerDep, who: Writer) -> dict[str, Any]:
        """CSV import (body ``text/csv``, docs/import.md): every row checked, then all stored or none."""
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError("the CSV must be UTF-8", field="body") from exc
        lang = pick_lang(None, request.headers.get("accept-language"))
        return {"recorded": ledger.import_csv(_org(who), text, role=_role(who), lang=lang)}


def _attach(name: str) -> dict[str, str]:
    return attachment(name)


def _lot(lot_id: str) -> str:
    """A lot id from a path segment: a '/' inside a lot code arrives as %2F (``api.middleware``)."""
    return unquote(lot_id)
