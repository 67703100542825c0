"""Admin routes (role ``admin``): organizations, API keys, anchoring status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Admin, Svc
from api.idempotency import IdempotentRoute
from api.schemas import (
    AnchoringStatus,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    OrgCreated,
    OrgDetail,
    Role,
    errors,
)
from ledger.core.records import OrganizationCreate, OrganizationPrefixes

router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], responses=errors(401, 403, 404, 422), route_class=IdempotentRoute
)


@router.get("/organizations", response_model=list[OrgDetail])
def list_orgs(who: Admin, svc: Svc) -> list[dict[str, Any]]:
    """All organizations with their signing keys."""
    return svc.ledger.list_orgs()


@router.post("/organizations", status_code=201, response_model=OrgCreated, responses=errors(409))
def create_org(
    data: OrganizationCreate,
    who: Admin,
    svc: Svc,
    api_key_role: Annotated[Role | None, Query(description="also create the organization's first API key")] = None,
) -> dict[str, Any]:
    """Create an organization and its server-held signing key (and, with ``api_key_role``, an API key)."""
    return svc.ledger.create_org_with_api_key(data, api_key_role)


@router.get("/organizations/{org}", response_model=OrgDetail)
def get_org(org: str, who: Admin, svc: Svc) -> dict[str, Any]:
    """One organization (by id or slug) with its signing keys."""
    return svc.ledger.get_org(org)


@router.put("/organizations/{org}/gs1-prefixes", response_model=OrgDetail, responses=errors(409))
def set_gs1_prefixes(org: str, data: OrganizationPrefixes, who: Admin, svc: Svc) -> dict[str, Any]:
    """Replace the organization's GS1 company prefixes; 409 if one overlaps another organization's."""
    return svc.ledger.set_gs1_prefixes(org, data.gs1_prefixes)


@router.post("/organizations/{org}/api-keys", status_code=201, response_model=ApiKeyCreated, responses=errors(409))
def create_api_key(org: str, data: ApiKeyCreate, who: Admin, svc: Svc) -> dict[str, Any]:
    """A new API key for the organization; the token is in this response only."""
    return svc.ledger.create_api_key(org, data.role, data.label)


@router.get("/organizations/{org}/api-keys", response_model=list[ApiKeyPublic])
def list_api_keys(org: str, who: Admin, svc: Svc) -> list[dict[str, Any]]:
    """The organization's API keys (handles, roles, revocation; never tokens)."""
    return svc.ledger.list_api_keys(org)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyPublic, responses=errors(409))
def revoke_api_key(key_id: str, who: Admin, svc: Svc) -> dict[str, Any]:
    """Revoke an API key; it is refused from the next request on."""
    revoked = svc.ledger.revoke_api_key(key_id)
    svc.keys.forget(key_id)
    return revoked


@router.get("/anchoring", response_model=AnchoringStatus)
def anchoring_status(who: Admin, svc: Svc) -> dict[str, Any]:
    """How far the log is anchored: log size, newest confirmed anchor, entries waiting, rows by status."""
    return svc.ledger.anchoring_status(svc.chain_ids(), svc.settings.explorer_url)
