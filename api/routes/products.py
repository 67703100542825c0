"""Product master data updates: each one is a new signed version of the product in the log (issue 11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import Caller, Svc, require
from api.idempotency import IdempotentRoute
from api.schemas import ProductPublic, errors
from ledger.core import gs1
from ledger.core.records import ProductCreate

router = APIRouter(tags=["write"], responses=errors(401, 403, 404, 422), route_class=IdempotentRoute)
# storing an image is idempotent by itself: the same bytes get the same name
images = APIRouter(tags=["write"], responses=errors(401, 403, 413, 422))
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


@images.post(
    "/api/v1/products/images",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES},
        }
    },
)
async def upload_image(request: Request, who: Caller, svc: Svc) -> dict[str, str]:
    """Store a product image (the body: a JPEG, PNG or WebP file of at most 4 MB, its type read from its
    bytes) by the SHA-256 of its bytes; returns ``{"sha256", "media_type"}``. List the ``sha256`` in a
    product's ``images``: the product's signed entry then holds the hash, so a swapped file is detected.
    Role: producer."""
    require(who, "producer")
    data = await request.body()
    return await run_in_threadpool(svc.ledger.store_product_image, data)


@router.put("/api/v1/products/{gtin}", response_model=ProductPublic)
def update_product(gtin: str, data: ProductCreate, who: Caller, svc: Svc) -> dict[str, Any]:
    """Replace a product's record of the caller's organization (the body's GTIN must be the path's); the
    update is appended to the log as the product's next version, signed by the organization. Lots made
    before keep showing the version in force at their commissioning. Role: producer."""
    require(who, "producer")
    return _plain(svc.ledger.update_product(who.org_id, gs1.normalize_gtin(gtin), data))


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in d.items()}
