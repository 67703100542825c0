"""Attestations by authority organizations (issue 11): recorded by the operator with the authority's
server-held key, readable by anyone."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.deps import Admin, Svc
from api.idempotency import IdempotentRoute
from api.schemas import errors

router = APIRouter(tags=["admin"], responses=errors(401, 403, 404, 409, 422), route_class=IdempotentRoute)


class AttestationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    about: dict[str, Any]  # {"type": "product" | "lot" | "plot", "id": ...}
    claim: dict[str, Any]  # ocop_rating | certification | growing_area_code | packing_house_code


@router.post("/api/v1/admin/organizations/{org}/attestations", status_code=201)
def attest(org: str, data: AttestationCreate, who: Admin, svc: Svc) -> dict[str, Any]:
    """Record an attestation by the authority organization ``org`` (kind ``authority``), signed by its key:
    ``claim`` is ``{"type": "ocop_rating", "stars", "year", "decision"?, "expires"?}``,
    ``{"type": "certification", "scheme", "number", "valid_from"?, "valid_to"?}``,
    ``{"type": "growing_area_code", "code"}`` or ``{"type": "packing_house_code", "code"}``."""
    return svc.ledger.attest(org, data.about, data.claim)


@router.post("/api/v1/admin/attestations/{subject}/revoke")
def revoke(subject: str, who: Admin, svc: Svc) -> dict[str, Any]:
    """Withdraw an attestation (``attestation:<authority>:<n>``): the log gets its revoked entry."""
    return svc.ledger.revoke_attestation(subject)


@router.get("/api/v1/attestations", tags=["lots"])
def about(
    svc: Svc,
    type: Literal["product", "lot", "plot"] = Query(description="what the attestations are about"),  # noqa: A002
    id: str = Query(min_length=1, max_length=100),  # noqa: A002
) -> list[dict[str, Any]]:
    """The active attestations about a product (GTIN-14), lot or plot that verify from the log, each with
    the authority that vouches for it."""
    return svc.ledger.attestations_about(type, id)
