"""Attestations by authority organizations (issue 11): recorded by the authority itself with its own API key
(role ``authority``) or by the operator on its behalf, always signed by the authority's server-held key;
readable by anyone."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.deps import Admin, Caller, Svc, require
from api.idempotency import IdempotentRoute
from api.schemas import errors

router = APIRouter(tags=["admin"], responses=errors(401, 403, 404, 409, 422), route_class=IdempotentRoute)
# an authority's own writes, with its API key (role authority)
own = APIRouter(tags=["attestations"], responses=errors(401, 403, 404, 409, 422), route_class=IdempotentRoute)


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


@own.post("/api/v1/attestations", status_code=201)
def attest_own(data: AttestationCreate, who: Caller, svc: Svc) -> dict[str, Any]:
    """Record an attestation of the caller's own authority organization, signed by its key. The body is the
    admin route's (``about``, ``claim``). Role: authority (an API key of an organization of kind authority)."""
    require(who, "authority")
    return svc.ledger.attest(who.org_slug, data.about, data.claim)


@own.post("/api/v1/attestations/{subject}/revoke")
def revoke_own(subject: str, who: Caller, svc: Svc) -> dict[str, Any]:
    """Withdraw one of the caller's own attestations (``attestation:<caller's slug>:<n>``); another
    authority's is 403 (the operator revokes any through the admin route). Role: authority."""
    require(who, "authority")
    return svc.ledger.revoke_attestation(subject, by=who.org_slug)


@router.get("/api/v1/attestations", tags=["lots"])
def about(
    svc: Svc,
    type: Literal["product", "lot", "plot"] = Query(description="what the attestations are about"),  # noqa: A002
    id: str = Query(min_length=1, max_length=100),  # noqa: A002
) -> list[dict[str, Any]]:
    """The active attestations about a product (GTIN-14), lot or plot that verify from the log, each with
    the authority that vouches for it."""
    return svc.ledger.attestations_about(type, id)
