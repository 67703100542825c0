"""Authenticated writes: products, lots, events (single, batch, EPCIS capture)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from api import epcis, sequenced
from api.deps import Caller, Svc, Writer, lot_or_input_error, require
from api.errors import Forbidden
from api.idempotency import IdempotentRoute
from api.schemas import (
    EPCIS_EXAMPLE,
    EVENT_EXAMPLE,
    BatchIn,
    BatchOut,
    EpcisCaptureOut,
    EventRecorded,
    LotPublic,
    Me,
    ProductPublic,
    errors,
)
from ledger.core.records import LotCreate, ProductCreate
from ledger.errors import InputError, PermissionDenied

router = APIRouter(tags=["write"], responses=errors(401, 403, 413, 422), route_class=IdempotentRoute)
# The append routes, in their own router that the app includes before all others: a request is
# matched against the routes in order, and these carry nearly all of the write load. No other
# route's path matches theirs (tests/api/test_routing.py checks it).
ingest_router = APIRouter(tags=["write"], responses=errors(401, 403, 413, 422), route_class=IdempotentRoute)


@router.get("/api/v1/me", response_model=Me, tags=["auth"])
def me(who: Caller, svc: Svc) -> dict[str, Any]:
    """Who this API key is: its handle, role and organization."""
    org = svc.ledger.get_org(who.org_id)
    return {"key_id": who.key_id, "role": who.role, "organization": org}


@router.post("/api/v1/products", status_code=201, response_model=ProductPublic, responses=errors(409))
def create_product(data: ProductCreate, who: Caller, svc: Svc) -> dict[str, Any]:
    """Register a product (GTIN, names, OCOP stars, certifications) of the caller's organization. Role: producer."""
    require(who, "producer")
    return _plain(svc.ledger.create_product(who.org_id, data))


@router.post("/api/v1/lots", status_code=201, response_model=LotPublic, responses=errors(409))
def create_lot(data: LotCreate, who: Caller, svc: Svc) -> dict[str, Any]:
    """Create a lot of one of the caller's products; its commissioning entry is signed and logged. Role: producer."""
    svc.ledger.create_lot(who.org_id, data, role=who.role)  # ledger.core.policy decides in the append path
    return svc.lot_json(data.lot_id)


EventBody = Annotated[
    dict[str, Any],
    Body(
        description='one EPCIS-shaped event (the server signs it), or {"entry": {…}} signed by you',
        examples=[EVENT_EXAMPLE],
    ),
]


# The three append routes go through the process's sequencer (api.sequenced): each request is
# checked on its own, then committed in a batch with other requests', and answered after the commit.
@ingest_router.post("/api/v1/lots/{lot_id:path}/events", status_code=201, response_model=EventRecorded)
@sequenced.handles_idempotency
async def record_event(lot_id: str, body: EventBody, who: Writer, svc: Svc, request: Request) -> Response:
    """Record one event on a lot. Producers: any step on their own lots; inspectors and exporters:
    their steps on any lot."""
    return await sequenced.record(request, svc, who, [event_item(lot_id, body)], lambda rec: rec[0])


def event_item(lot_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The sequencer's item for one event posted to a lot: an entry signed by the client, or an event."""
    lot = lot_or_input_error(lot_id)
    return {"lot": lot, "entry": body["entry"]} if set(body) == {"entry"} else {"lot": lot, "event": body}


@ingest_router.post("/api/v1/events:batch", status_code=201, response_model=BatchOut)
@sequenced.handles_idempotency
async def record_batch(body: BatchIn, who: Writer, svc: Svc, request: Request) -> Response:
    """Record up to 5000 events at once, all or nothing: one bad event stores none, and every
    error is listed in ``error.details`` with its index."""
    items = [i.model_dump(exclude_none=True) for i in body.events]
    return await sequenced.record(request, svc, who, items, lambda rec: {"recorded": rec})


@ingest_router.post("/api/v1/epcis/capture", status_code=201, response_model=EpcisCaptureOut, tags=["epcis"])
@sequenced.handles_idempotency
async def epcis_capture(
    doc: Annotated[dict[str, Any], Body(description="an EPCIS 2.0 JSON-LD EPCISDocument", examples=[EPCIS_EXAMPLE])],
    who: Writer,
    svc: Svc,
    request: Request,
) -> Response:
    """Capture an EPCIS 2.0 document (object, aggregation and transformation events), all or nothing;
    errors are listed per event (``details[].index`` is the event's position in ``eventList``)."""
    items = epcis.map_document(doc)
    try:
        return await sequenced.record(request, svc, who, items, lambda rec: {"captured": len(rec), "recorded": rec})
    except (InputError, PermissionDenied) as exc:
        raise _renamed(exc) from exc


def _renamed(exc: InputError | PermissionDenied) -> InputError | PermissionDenied:
    """Ledger errors name ``events.N``; in a capture they are ``epcisBody.eventList.N``."""
    details = [
        {
            k: (str(v).replace("events.", "epcisBody.eventList.") if k in ("field", "message") else v)
            for k, v in d.items()
        }
        for d in getattr(exc, "details", [])
    ]
    message = str(exc).replace("events.", "epcisBody.eventList.")
    if isinstance(exc, PermissionDenied):
        return Forbidden(message, details=details)
    return type(exc)(message, field=exc.field, details=details)


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in d.items()}
