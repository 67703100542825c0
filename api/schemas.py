"""Request and response schemas of the HTTP API (OpenAPI), with examples.

Request bodies for master data reuse ``ledger.core.records`` (``ProductCreate``, ``LotCreate``,
``OrganizationCreate``); events are the EPCIS-shaped objects of ``ledger.core.events``.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from ledger.service import ROLES

LOT_ID = "08930000045676.PH-2026-07"
HEX = "9f2c1d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
EVENT_EXAMPLE = {
    "type": "ObjectEvent",
    "action": "OBSERVE",
    "bizStep": "ocop:harvesting",
    "eventTime": "2026-07-01T06:30:00+07:00",
    "bizLocation": {"id": "urn:ocop:loc:VN-LDPH-0042", "name": "Vườn thanh long Phú Hội", "province": "Lâm Đồng"},
    "quantityList": [{"lot": LOT_ID, "quantity": 1200, "uom": "KGM"}],
}
EPCIS_EXAMPLE = {
    "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2026-07-02T08:00:00+07:00",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "action": "OBSERVE",
                "bizStep": "https://ref.gs1.org/cbv/BizStep-packing",
                "eventTime": "2026-07-02T07:30:00+07:00",
                "quantityList": [
                    {"epcClass": "https://id.gs1.org/01/08930000045676/10/PH-2026-07", "quantity": 400, "uom": "KGM"}
                ],
            }
        ]
    },
}
Role = Literal["producer", "inspector", "exporter", "admin", "authority"]
assert set(ROLES) == {"producer", "inspector", "exporter", "admin", "authority"}


def _ex(*examples: Any) -> ConfigDict:
    extra: Any = {"examples": list(examples)}
    return ConfigDict(json_schema_extra=extra)


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["events.0.event.bizStep: expected a CBV 2.0 business step"])
    details: list[dict[str, Any]] | None = Field(
        default=None, description="per-field or per-event errors, e.g. [{index, field, message}]"
    )


class ErrorBody(BaseModel):
    model_config = _ex({"error": {"code": "not_found", "message": f"no lot '{LOT_ID}'"}})
    error: ErrorDetail


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses."""
    text = {
        400: "malformed JSON or a bad parameter",
        401: "missing, unknown or revoked API key",
        403: "the key's role or organization may not do this",
        404: "not found",
        409: "conflicts with what is stored",
        413: "request body too large",
        422: "invalid input; nothing was stored",
        429: "rate limited (see Retry-After)",
        503: "the chain could not be read",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


def page_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Like ``errors``, for routes that answer browsers with an HTML page (the JSON body otherwise)."""
    out = errors(*codes)
    for entry in out.values():
        entry["content"] = {"application/json": {}, "text/html": {}}
    return out


# --- master data ----------------------------------------------------------------------------


class Certification(BaseModel):
    scheme: str
    certificate_no: str | None = None
    issuer: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None


class ProductPublic(BaseModel):
    model_config = _ex(
        {
            "gtin": "08930000045676",
            "org_id": 1,
            "name_vi": "Thanh long ruột đỏ Phú Hội",
            "name_en": "Phu Hoi red dragon fruit",
            "category": "fruit",
            "ocop_stars": 4,
            "ocop_year": 2024,
            "certifications": [{"scheme": "VietGAP", "certificate_no": "VG-123"}],
        }
    )
    gtin: str
    org_id: int
    name_vi: str
    name_en: str | None = None
    name_zh: str | None = None
    name_ja: str | None = None
    category: str | None = None
    brand: str | None = None
    net_content: dict[str, Any] | None = Field(default=None, description='e.g. {"value": 500, "unit": "GRM"}')
    images: list[dict[str, Any]] = Field(default=[], description='[{"sha256", "media_type"}]')
    ocop_stars: int | None = None
    ocop_year: int | None = None
    certifications: list[dict[str, Any]] = []


class OrgPublic(BaseModel):
    id: int
    slug: str
    name: str
    kind: str
    province: str | None = None
    gs1_prefixes: list[str] = Field(default=[], description="GS1 company prefixes its products' GTINs lie under")


class OrgDetail(OrgPublic):
    keys: list[dict[str, Any]] = Field(default=[], description="the organization's Ed25519 signing keys (public)")


class EntryPublic(BaseModel):
    index: int = Field(description="log index")
    seq: int
    entry: dict[str, Any] = Field(description="the signed statement plus 'sig' (RFC 8785 canonical form is signed)")
    leaf_hash: str


class LotPublic(BaseModel):
    model_config = _ex(
        {
            "lot_id": LOT_ID,
            "gtin": "08930000045676",
            "code": "PH-2026-07",
            "digital_link": "http://127.0.0.1:8000/01/08930000045676/10/PH-2026-07",
            "origin_province": "Lâm Đồng",
            "quantity": 1200,
            "unit": "KGM",
            "head": {"seq": 3, "hash": HEX},
            "product": {"gtin": "08930000045676", "name_vi": "Thanh long ruột đỏ Phú Hội", "ocop_stars": 4},
            "producer": {"id": 1, "slug": "htx-phu-hoi", "name": "HTX Phú Hội", "kind": "cooperative"},
            "entries": [],
        }
    )
    lot_id: str
    gtin: str
    code: str
    digital_link: str
    origin_province: str | None = None
    origin_commune: str | None = None
    growing_area_code: str | None = None
    packing_house_code: str | None = None
    plot: dict[str, Any] | None = None
    plot_area_ha: float | None = None
    harvest_start: str | None = None
    harvest_end: str | None = None
    quantity: float | None = None
    unit: str | None = None
    head: dict[str, Any]
    product: ProductPublic
    producer: OrgPublic
    entries: list[EntryPublic]


# --- writes ---------------------------------------------------------------------------------


class EventRecorded(BaseModel):
    model_config = _ex(
        {
            "lot": LOT_ID,
            "seq": 1,
            "index": 42,
            "leaf_hash": HEX,
            "signer": "ed25519:" + HEX,
            "recordTime": "2026-07-01T00:00:01.000Z",
        }
    )
    lot: str
    seq: int
    index: int
    leaf_hash: str
    signer: str
    recordTime: str


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot: str = Field(examples=[LOT_ID])
    event: dict[str, Any] | None = Field(default=None, description="an EPCIS-shaped event; the server signs")
    entry: dict[str, Any] | None = Field(default=None, description="a statement + sig you signed yourself")


class BatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=cast(Any, {"examples": [{"events": [{"lot": LOT_ID, "event": EVENT_EXAMPLE}]}]}),
    )
    events: list[BatchItem] = Field(min_length=1, max_length=5000)


class BatchOut(BaseModel):
    recorded: list[EventRecorded]


class EpcisCaptureOut(BaseModel):
    model_config = _ex({"captured": 1, "recorded": [{"lot": LOT_ID, "seq": 2, "index": 43}]})
    captured: int
    recorded: list[EventRecorded]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "producer", "label": "ERP"}]})
    role: Role
    label: str | None = Field(default=None, max_length=100)


class ApiKeyPublic(BaseModel):
    key_id: str = Field(examples=["ak_3f9c2a1b7d4e"])
    org_id: int
    role: str
    label: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None


class ApiKeyCreated(ApiKeyPublic):
    token: str = Field(description="the API key; shown only once", examples=["ocop_ak_3f9c2a1b7d4e_…"])


class OrgCreated(OrgDetail):
    api_key: ApiKeyCreated | None = None


class Me(BaseModel):
    key_id: str
    role: str
    organization: OrgPublic


# --- verification, log, anchors ---------------------------------------------------------


class AnchorPublic(BaseModel):
    model_config = _ex(
        {
            "tree_size": 128,
            "root": HEX,
            "chain_id": 31337,
            "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "tx_hash": "0x" + HEX,
            "block_number": 12,
            "block_time": "2026-07-01T00:00:12+00:00",
            "explorer_tx_url": None,
        }
    )
    tree_size: int
    root: str
    chain_id: int
    contract: str
    tx_hash: str | None
    block_number: int | None
    block_time: str | None = None
    explorer_tx_url: str | None = None


class AnchorsPublic(BaseModel):
    anchors: list[AnchorPublic]
    count: int


class EntryCheckOut(BaseModel):
    seq: int
    index: int
    bizStep: str
    checks: dict[str, str] = Field(
        description="check -> ok | failed | pending: record, signature, key, chain, leaf, inclusion, anchor"
    )
    error: str | None = None


class FailureOut(BaseModel):
    seq: int | None
    index: int | None
    check: str
    message: str


class VerifyReport(BaseModel):
    model_config = _ex(
        {
            "lot": LOT_ID,
            "verdict": "verified",
            "tree_size": 128,
            "root": HEX,
            "failure": None,
            "anchor": {"tree_size": 128, "chain_id": 31337, "block_number": 12, "tx_hash": "0x" + HEX},
            "entries": [
                {
                    "seq": 0,
                    "index": 40,
                    "bizStep": "commissioning",
                    "checks": {
                        "record": "ok",
                        "signature": "ok",
                        "key": "ok",
                        "chain": "ok",
                        "leaf": "ok",
                        "inclusion": "ok",
                        "anchor": "ok",
                    },
                    "error": None,
                }
            ],
        }
    )
    lot: str
    verdict: Literal["verified", "pending", "unverifiable", "tampered", "not_found"]
    tree_size: int
    root: str
    failure: FailureOut | None
    anchor: dict[str, Any] | None
    entries: list[EntryCheckOut]


class Checkpoint(BaseModel):
    model_config = _ex({"tree_size": 128, "root": HEX, "anchor": None})
    tree_size: int
    root: str
    anchor: AnchorPublic | None = Field(description="the newest confirmed anchor of the log on chain")


class LogEntries(BaseModel):
    start: int
    end: int
    tree_size: int
    entries: list[EntryPublic]


class ConsistencyOut(BaseModel):
    model_config = _ex({"first": 100, "second": 128, "first_root": HEX, "second_root": HEX, "proof": [HEX]})
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class AnchoringStatus(BaseModel):
    tree_size: int
    anchored_size: int
    pending_entries: int
    chain_id: int | None
    contract: str | None
    latest: AnchorPublic | None
    counts: dict[str, int] = Field(description="anchor rows by status")


class Health(BaseModel):
    status: Literal["ok"]
    tree_size: int
