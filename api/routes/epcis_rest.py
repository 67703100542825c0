"""EPCIS 2.0 REST bindings (GS1 ``openapi.yaml``) under ``/epcis``, beside the ledger's own routes.

Queries are public (the log is public): ``GET /epcis/events`` with the standard's simple query
parameters (``ledger/exports/epcis_query.py``), ``perPage`` and ``nextPageToken`` (the next page's URL is in
``Link: <…>; rel="next"``; its absence marks the last page), ``GET /epcis/events/{eventID}`` by
CBV 2.0 Event Hash ID, and the discovery lists. Capture is authenticated like
``/api/v1/epcis/capture``: ``POST /epcis/capture`` answers 202 with ``Location`` of a capture job,
all or nothing (``GS1-Capture-Error-Behaviour: rollback`` only); the job is finished when the answer
is sent and reports ``success`` with the errors as RFC 7807 problems.

Every answer carries ``GS1-EPCIS-Version`` and ``GS1-CBV-Version`` (2.0.0); a request whose
``GS1-EPCIS-Min``/``-Max``, ``GS1-CBV-Min``/``-Max`` or ``GS1-EPCIS-Version`` excludes 2.0.0 gets
406 (``epcisException:NotAcceptableException``); query errors are 400
(``epcisException:QueryParameterException``), unknown events and jobs 404.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any
from urllib.parse import unquote, urlencode

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from api import epcis as capture_mapping
from api.deps import Caller, Svc
from api.idempotency import IdempotentRoute
from api.routes.write import _renamed
from api.schemas import ErrorBody, errors
from ledger.core.events import CBV_BIZ_STEPS, CBV_DISPOSITIONS, OCOP_BIZ_STEPS
from ledger.core.paging import PER_PAGE_DEFAULT, PER_PAGE_MAX, page_offset, page_token
from ledger.errors import InputError, NotAcceptable, PermissionDenied, QueryError
from ledger.service import CAPTURE_LIMIT, EPCIS_CONTEXT, EPCIS_EVENT_TYPES

VERSION = "2.0.0"
HEADERS = {"GS1-EPCIS-Version": VERSION, "GS1-CBV-Version": VERSION}
TOP_LEVEL = ["capture", "events", "eventTypes", "epcs", "bizSteps", "bizLocations", "readPoints", "dispositions"]


def _version(text: str, name: str) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in text.strip().split("."))
    except ValueError as exc:
        raise NotAcceptable(f"{name}: expected a version like 2.0.0, got {text!r}", field=name) from exc
    if not 1 <= len(parts) <= 3:
        raise NotAcceptable(f"{name}: expected a version like 2.0.0, got {text!r}", field=name)
    return (parts + (0, 0))[:3]


def negotiate(request: Request) -> None:
    """406 unless every version header the client sent admits EPCIS and CBV 2.0.0."""
    ours = _version(VERSION, "version")
    for kind in ("EPCIS", "CBV"):
        low = request.headers.get(f"GS1-{kind}-Min")
        high = request.headers.get(f"GS1-{kind}-Max")
        exact = request.headers.get(f"GS1-{kind}-Version")
        if low is not None and _version(low, f"GS1-{kind}-Min") > ours:
            raise NotAcceptable(f"GS1-{kind}-Min: this server speaks {kind} {VERSION}, the client asks {low} or newer")
        if high is not None and _version(high, f"GS1-{kind}-Max") < ours:
            raise NotAcceptable(f"GS1-{kind}-Max: this server speaks {kind} {VERSION}, the client asks {high} or older")
        if exact is not None and _version(exact, f"GS1-{kind}-Version")[:2] != ours[:2]:
            raise NotAcceptable(f"GS1-{kind}-Version: expected {VERSION}, got {exact!r}")


_406: dict[int | str, dict[str, Any]] = {
    406: {"model": ErrorBody, "description": "the GS1-EPCIS-/GS1-CBV- version headers exclude 2.0.0"}
}
router = APIRouter(
    tags=["epcis"], dependencies=[Depends(negotiate)], route_class=IdempotentRoute, responses=errors(400) | _406
)


def _answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=HEADERS | (headers or {}))


def _next_link(request: Request, token: str) -> dict[str, str]:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
    url = request.url.replace(query=urlencode([*params, ("nextPageToken", token)]))
    return {"Link": f'<{url}>; rel="next"'}


@router.get("/epcis")
def top_level() -> JSONResponse:
    """The EPCIS 2.0 top-level resources (HATEOAS discovery)."""
    return _answer({"@context": EPCIS_CONTEXT, "type": "Collection", "member": TOP_LEVEL})


@router.get("/epcis/events")
def events(request: Request, svc: Svc) -> JSONResponse:
    """EPCIS events answering the standard's simple query parameters, in log order, one page at a time."""
    params: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        params.setdefault(k, []).append(v)
    doc, token = svc.ledger.epcis_query(params)
    return _answer(doc, headers=_next_link(request, token) if token is not None else {})


@router.get("/epcis/events/{event_id:path}", responses=errors(404))
def event(event_id: str, request: Request, svc: Svc) -> JSONResponse:
    """One event by its CBV 2.0 Event Hash ID (``ni:///sha-256;…?ver=CBV2.0``, percent-encoded)."""
    event_id = unquote(event_id)  # the path keeps %2F encoded (lot codes may hold '/'); an event id's are its own
    ver = request.query_params.get("ver")
    if ver and "?" not in event_id:  # the id's own "?ver=" sent unencoded
        event_id = f"{event_id}?ver={ver}"
    return _answer(svc.ledger.epcis_document([svc.ledger.epcis_event(event_id)]))


def _collection(request: Request, members: list[str], more: bool, offset: int) -> JSONResponse:
    links = _next_link(request, page_token(offset)) if more else {}
    return _answer({"@context": EPCIS_CONTEXT, "type": "Collection", "member": members}, headers=links)


def _per_page(request: Request) -> int:
    raw = request.query_params.get("perPage", str(PER_PAGE_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= PER_PAGE_MAX:
        raise QueryError(f"perPage: expected a whole number from 1 to {PER_PAGE_MAX}, got {raw!r}", field="perPage")
    unknown = sorted(set(request.query_params) - {"perPage", "nextPageToken"})
    if unknown:
        raise QueryError(f"query parameters unknown here: {unknown}; expected perPage, nextPageToken", field=unknown[0])
    return int(raw)


def _static(request: Request, values: list[str]) -> JSONResponse:
    limit, offset = _per_page(request), page_offset(request.query_params.get("nextPageToken"))
    return _collection(request, values[offset : offset + limit], offset + limit < len(values), offset + limit)


@router.get("/epcis/eventTypes")
def event_types(request: Request) -> JSONResponse:
    """The five EPCIS 2.0 event types (this ledger records object, aggregation and transformation events)."""
    return _static(request, list(EPCIS_EVENT_TYPES))


@router.get("/epcis/bizSteps")
def biz_steps(request: Request) -> JSONResponse:
    """The CBV 2.0 business steps and this ledger's own (``ocop:`` terms)."""
    return _static(request, sorted(CBV_BIZ_STEPS) + sorted(OCOP_BIZ_STEPS))


@router.get("/epcis/dispositions")
def dispositions(request: Request) -> JSONResponse:
    """The CBV 2.0 dispositions."""
    return _static(request, sorted(CBV_DISPOSITIONS))


def _logged(kind: str, request: Request, svc: Svc) -> JSONResponse:
    limit, offset = _per_page(request), page_offset(request.query_params.get("nextPageToken"))
    values = svc.ledger.epcis_values(kind, offset, limit + 1)
    return _collection(request, values[:limit], len(values) > limit, offset + limit)


@router.get("/epcis/bizLocations")
def biz_locations(request: Request, svc: Svc) -> JSONResponse:
    """The business locations events in the log name."""
    return _logged("bizLocations", request, svc)


@router.get("/epcis/readPoints")
def read_points(request: Request, svc: Svc) -> JSONResponse:
    """The read points events in the log name."""
    return _logged("readPoints", request, svc)


@router.get("/epcis/epcs")
def epcs(request: Request, svc: Svc) -> JSONResponse:
    """The lots (LGTIN classes as GS1 Digital Link URIs) and shipments (SSCCs) in the ledger."""
    return _logged("epcs", request, svc)


@router.options("/epcis/capture", status_code=204, responses={204: {"description": "capture settings"}})
def capture_options() -> Response:
    """Capture settings: EPCIS/CBV 2.0.0, at most CAPTURE_LIMIT events per capture, all or nothing."""
    return Response(
        status_code=204,
        headers=HEADERS
        | {
            "Allow": "OPTIONS, POST",
            "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
            "GS1-Capture-Error-Behaviour": "rollback",
        },
    )


@router.post("/epcis/capture", status_code=202, responses=errors(401, 403, 413, 422))
def capture(
    doc: Annotated[dict[str, Any], Body(description="an EPCIS 2.0 JSON-LD EPCISDocument")],
    request: Request,
    who: Caller,
    svc: Svc,
) -> JSONResponse:
    """Capture an EPCIS 2.0 document all or nothing; 202 with ``Location`` of the capture job."""
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback")
    if behaviour != "rollback":
        raise NotAcceptable(
            f"GS1-Capture-Error-Behaviour: only rollback (all or nothing) is offered, got {behaviour!r}"
        )
    if who.role == "admin":
        raise PermissionDenied("admin keys manage organizations and keys; they capture no events")
    created = svc.ledger.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        captured, problems = len(svc.ledger.record(who.org_id, capture_mapping.map_document(doc), role=who.role)), []
    except PermissionDenied as exc:  # not this caller's to capture: 403 (SecurityException), no job
        raise _renamed(exc) from exc
    except InputError as exc:  # the events: a finished, failed job; nothing stored
        captured, problems = 0, _problems(_renamed(exc))
    job = svc.ledger.epcis_save_job(who.org_id, created, captured, problems)
    return _answer({"captureID": job}, status=202, headers={"Location": f"/epcis/capture/{job}"})


def _problems(exc: InputError | PermissionDenied) -> list[dict[str, Any]]:
    kind, status = "ValidationException", 400
    items = list(getattr(exc, "details", []) or []) or [{"field": getattr(exc, "field", "") or "", "message": str(exc)}]
    return [
        {
            "type": f"epcisException:{kind}",
            "title": str(d.get("message", exc)),
            "status": status,
            "instance": "#/" + str(d.get("field") or "").replace(".", "/"),  # JSON pointer into the document
        }
        for d in items
    ]


@router.get("/epcis/capture/{capture_id}", responses=errors(401, 404))
def capture_job(capture_id: str, who: Caller, svc: Svc) -> JSONResponse:
    """A capture job of the caller's organization: finished, with ``success`` and the errors."""
    return _answer(svc.ledger.epcis_job(who.org_id, capture_id))
