"""``POST /api/v1/shipments/{sscc}/move``: shipping or receiving of a whole shipment, with its
reference documents (FSMA 204 KDEs) recorded as ``bizTransactionList`` in each signed event."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.deps import Caller, Svc, require
from api.idempotency import IdempotentRoute
from api.schemas import errors
from ledger.errors import InputError

router = APIRouter(tags=["write"], responses=errors(401, 403, 413, 422), route_class=IdempotentRoute)
_FIELDS = {"step", "event_time", "location", "party", "documents"}
EXAMPLE = {
    "step": "shipping",
    "event_time": "2026-07-09T09:00:00+07:00",
    "location": {"id": "urn:epc:id:sgln:8930000.00002.0", "name": "Kho Mekong, Tiền Giang"},
    "party": "Importer warehouse, Los Angeles CA",
    "documents": [{"type": "bol", "number": "VNX-889"}, {"type": "inv", "number": "INV-2026-77"}],
}


@router.post("/api/v1/shipments/{sscc}/move", status_code=201)
def move(
    sscc: str, who: Caller, svc: Svc, body: Annotated[dict[str, Any], Body(examples=[EXAMPLE])]
) -> list[dict[str, Any]]:
    """Record shipping (ship-from ``location``, ship-to ``party``) or receiving (receiving ``location``,
    ship-from ``party``) of every lot in the shipment; ``documents`` are the reference documents
    (type: a CBV business transaction type such as bol, inv, po, desadv; number)."""
    require(who, "producer", "exporter")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InputError(f"unknown fields {unknown}; expected some of {sorted(_FIELDS)}", field=unknown[0])
    step, when, party = body.get("step"), body.get("event_time"), body.get("party")
    if not isinstance(step, str) or not isinstance(when, str) or not isinstance(party, str | None):
        raise InputError("expected {'step': shipping|receiving, 'event_time': ISO 8601, 'party'?: text}", field="step")
    docs = body.get("documents") or []
    location = body.get("location")
    if not isinstance(docs, list) or not isinstance(location, dict | None):
        raise InputError("expected 'documents': [{type, number}] and 'location': {id, name?}", field="documents")
    return svc.ledger.move_shipment(
        who.org_id, sscc, step, event_time=when, party=party, location=location, documents=docs, role=who.role
    )
