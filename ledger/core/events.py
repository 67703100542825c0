"""EPCIS 2.0-shaped supply-chain events: validation and normalization.

An event as a cooperative submits it is checked here and turned into the normalized dict that
goes into the signed statement. Normalization is deterministic: CBV URIs become bare CBV names,
``eventTimeZoneOffset`` is derived from ``eventTime``, absent optional fields are dropped.

Accepted shapes follow GS1 EPCIS 2.0 JSON-LD names: ``ObjectEvent``, ``AggregationEvent``,
``TransformationEvent``; CBV 2.0 business steps and dispositions; OCOP extension steps under the
``ocop:`` prefix (``ocop:harvesting`` has no CBV equivalent). Fields the OCOP ledger adds use the
``ocop:`` prefix too, as EPCIS user extensions: ``ocop:documents`` (referenced documents such as
lab reports, by SHA-256), ``ocop:inputs`` (the input lots of a transformation, with their chain
heads, filled in by the ledger) and ``ocop:note``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger.core import bounds
from ledger.errors import InputError

CBV_BIZ_STEPS = frozenset(
    "accepting arriving assembling collecting commissioning consigning creating_class_instance "
    "cycle_counting decommissioning departing destroying disassembling dispensing encoding "
    "entering_exiting holding inspecting installing killing loading other packing picking "
    "receiving removing repackaging repairing replacing reserving retail_selling sampling "
    "sensor_reporting shipping staging_outbound stock_taking stocking storing transporting "
    "unloading unpacking void_shipping".split()
)
OCOP_BIZ_STEPS = frozenset(
    f"ocop:{s}" for s in "harvesting cooling sorting drying fermenting roasting grinding freezing".split()
)
CBV_DISPOSITIONS = frozenset(
    "active available completeness_inferred completeness_verified conformant container_closed "
    "container_open damaged destroyed dispensed disposed encoded expired in_progress in_transit "
    "inactive mismatch_instance mismatch_class mismatch_quantity needs_replacement "
    "no_pedigree_match non_conformant non_sellable_other partially_dispensed recalled reserved "
    "retail_sold returned sellable_accessible sellable_not_accessible stolen unavailable unknown".split()
)
_CBV_PREFIXES = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    "disposition": ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
}
_UOM = re.compile(r"^[A-Z0-9]{2,3}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_FUTURE = timedelta(days=1)

Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class Location(_Strict):
    """A read point or business location: an identifier plus optional plain-language details."""

    id: Text
    name: Text | None = None
    province: Text | None = None
    commune: Text | None = None


class QuantityElement(_Strict):
    epcClass: Text | None = None
    lot: Text | None = Field(default=None, description="ledger lot id this quantity refers to")
    quantity: float = Field(gt=0, le=1e12)
    uom: str = Field(description="UN/CEFACT Rec. 20 unit code, e.g. KGM, TNE, LTR, H87")

    @field_validator("uom")
    @classmethod
    def _uom(cls, v: str) -> str:
        if not _UOM.match(v):
            raise ValueError(f"expected a UN/CEFACT unit code like KGM, got {v!r}")
        return v


class BizTransaction(_Strict):
    type: Text
    bizTransaction: Text


class SourceDest(_Strict):
    type: Text
    source: Text | None = None
    destination: Text | None = None


class Document(_Strict):
    """A referenced document (lab report, certificate, invoice) pinned by its SHA-256."""

    type: Text
    sha256: str
    name: Text | None = None
    uri: Text | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.lower()
        if not _SHA256_HEX.match(v):
            raise ValueError("expected 64 lowercase hex digits")
        return v


class _Extensible(BaseModel):
    """EPCIS structures that may carry user extensions: extra keys must be prefixed (``ext:name``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _prefixed_extensions(self) -> _Extensible:
        for key in self.model_extra or {}:
            if ":" not in key.strip(":"):
                raise ValueError(f"unknown field {key!r}: user extensions are named with a prefix, like ext:{key}")
        return self


class PersistentDisposition(_Strict):
    set: list[str] | None = Field(default=None, max_length=50)
    unset: list[str] | None = Field(default=None, max_length=50)

    @field_validator("set", "unset")
    @classmethod
    def _dispositions(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_check_disposition(d) for d in v]


def _sensor_time(v: str | None) -> str | None:
    if v is not None:
        parse_time(v, "time")
    return v


class SensorMetadata(_Extensible):
    @field_validator("time", "startTime", "endTime")
    @classmethod
    def _times(cls, v: str | None) -> str | None:
        return _sensor_time(v)

    time: str | None = None
    startTime: str | None = None
    endTime: str | None = None
    deviceID: Text | None = None
    deviceMetadata: Text | None = None
    rawData: Text | None = None
    dataProcessingMethod: Text | None = None
    bizRules: Text | None = None


class SensorReport(_Extensible):
    type: Text = Field(description="measurement type, e.g. Temperature (GS1 schema: required)")
    exception: Text | None = None
    deviceID: Text | None = None
    deviceMetadata: Text | None = None
    rawData: Text | None = None
    dataProcessingMethod: Text | None = None
    time: str | None = None
    microorganism: Text | None = None
    chemicalSubstance: Text | None = None
    value: float | None = None
    component: Text | None = None
    stringValue: Text | None = None
    booleanValue: bool | None = None
    hexBinaryValue: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]*$", max_length=2000)] | None = None
    uriValue: Text | None = None
    minValue: float | None = None
    maxValue: float | None = None
    meanValue: float | None = None
    sDev: float | None = None
    percRank: float | None = None
    percValue: float | None = None
    uom: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = None

    @field_validator("time")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        return _sensor_time(v)

    coordinateReferenceSystem: Text | None = None


class SensorElement(_Extensible):
    """One sensor element: its metadata and its reports (EPCIS 2.0 sensor data)."""

    sensorMetadata: SensorMetadata | None = None
    sensorReport: list[SensorReport] = Field(min_length=1, max_length=1000)


class ErrorDeclaration(_Extensible):
    """An error declaration: this event was wrong, and which events correct it."""

    declarationTime: str
    reason: Text | None = None
    correctiveEventIDs: list[Text] | None = Field(default=None, max_length=100)

    @field_validator("declarationTime")
    @classmethod
    def _time(cls, v: str) -> str:
        return parse_time(v, "declarationTime").isoformat()


class EventIn(_Strict):
    """One supply-chain event as submitted (EPCIS 2.0 JSON-LD names)."""

    type: Literal["ObjectEvent", "AggregationEvent", "TransformationEvent"]
    action: Literal["ADD", "OBSERVE", "DELETE"] | None = None
    bizStep: str
    disposition: str | None = None
    eventTime: str
    eventTimeZoneOffset: str | None = None
    eventID: Text | None = None
    readPoint: Location | None = None
    bizLocation: Location | None = None
    epcList: list[Text] | None = Field(default=None, max_length=1000)
    quantityList: list[QuantityElement] | None = Field(default=None, max_length=1000)
    parentID: Text | None = None
    childEPCs: list[Text] | None = Field(default=None, max_length=1000)
    childQuantityList: list[QuantityElement] | None = Field(default=None, max_length=1000)
    inputQuantityList: list[QuantityElement] | None = Field(default=None, max_length=1000)
    outputQuantityList: list[QuantityElement] | None = Field(default=None, max_length=1000)
    bizTransactionList: list[BizTransaction] | None = Field(default=None, max_length=100)
    sourceList: list[SourceDest] | None = Field(default=None, max_length=100)
    destinationList: list[SourceDest] | None = Field(default=None, max_length=100)
    ilmd: dict[str, Any] | None = None
    persistentDisposition: PersistentDisposition | None = None
    sensorElementList: list[SensorElement] | None = Field(default=None, max_length=100)
    certificationInfo: Text | list[Text] | None = None
    errorDeclaration: ErrorDeclaration | None = None
    recordTime: str | None = None
    documents: list[Document] | None = Field(default=None, alias="ocop:documents", max_length=50)
    inputs: list[dict[str, Any]] | None = Field(default=None, alias="ocop:inputs", max_length=1000)
    note: Annotated[str, Field(max_length=2000)] | None = Field(default=None, alias="ocop:note")

    @field_validator("bizStep")
    @classmethod
    def _biz_step(cls, v: str) -> str:
        v = _strip_cbv(v, "bizStep")
        if v not in CBV_BIZ_STEPS and v not in OCOP_BIZ_STEPS:
            raise ValueError(f"expected a CBV 2.0 business step or one of {sorted(OCOP_BIZ_STEPS)}, got {v!r}")
        return v

    @field_validator("disposition")
    @classmethod
    def _disposition(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = _strip_cbv(v, "disposition")
        if v not in CBV_DISPOSITIONS:
            raise ValueError(f"expected a CBV 2.0 disposition, got {v!r}")
        return v

    @field_validator("eventTime")
    @classmethod
    def _event_time(cls, v: str) -> str:
        return parse_time(v, "eventTime").isoformat()


def _check_disposition(value: str) -> str:
    v = _strip_cbv(value, "disposition")
    if v not in CBV_DISPOSITIONS:
        raise ValueError(f"expected a CBV 2.0 disposition, got {v!r}")
    return v


def _strip_cbv(value: str, field: str) -> str:
    for prefix in _CBV_PREFIXES[field]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 date-time that must carry its timezone offset."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, AttributeError) as exc:
        raise ValueError(
            f"{field} must be an ISO 8601 date-time with offset like 2026-07-01T06:30:00+07:00, got {value!r}"
        ) from exc
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{field} must carry a timezone offset (e.g. +07:00), got {value!r}")
    return bounds.check_datetime(t, field)


def _offset(t: datetime) -> str:
    off = t.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_record_time(t: datetime) -> str:
    """recordTime as the ledger writes it: UTC, millisecond precision, ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def error_list(exc: ValidationError, prefix: str = "") -> list[dict[str, object]]:
    """Pydantic errors as ``[{"field": "event.quantityList.0.uom", "message": ...}]``."""
    out: list[dict[str, object]] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append({"field": loc, "message": err["msg"]})
    return out


def normalize_event(raw: Any, *, now: datetime, where: str = "event") -> dict[str, Any]:
    """Validate one submitted event and return its normalized, signable form.

    ``recordTime`` and ``ocop:inputs`` are owned by the ledger: a submitted value is refused
    here; the append path fills them in.
    """
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a JSON object, got {type(raw).__name__}", field=where)
    for owned in ("recordTime", "ocop:inputs"):
        if owned in raw:
            raise InputError(f"{where}.{owned} is set by the ledger; leave it out", field=f"{where}.{owned}")
    bounds.check_value(raw, where)  # nothing is stored that a reader (XLSX, PDF, XML, PostgreSQL) cannot serve
    try:
        ev = EventIn.model_validate(raw)
    except ValidationError as exc:
        errs = error_list(exc, where)
        first = errs[0]
        raise InputError(f"{first['field']}: {first['message']}", field=str(first["field"]), details=errs) from exc
    t = parse_time(ev.eventTime, "eventTime")
    if t - now > _MAX_FUTURE:
        raise InputError(f"{where}.eventTime is in the future: {ev.eventTime}", field=f"{where}.eventTime")
    if ev.eventTimeZoneOffset not in (None, _offset(t)):
        raise InputError(
            f"{where}.eventTimeZoneOffset disagrees with eventTime: expected {_offset(t)}, "
            f"got {ev.eventTimeZoneOffset}",
            field=f"{where}.eventTimeZoneOffset",
        )
    _check_shape(ev, where)
    out = ev.model_dump(by_alias=True, exclude_none=True)
    out["eventTimeZoneOffset"] = _offset(t)
    # Whole-number floats become ints, so 1200.0 and 1200 sign the same bytes. Floats can only
    # come from the quantities (typed float) and the free-form ilmd.
    for key in _QUANTITY_LISTS:
        for q in out.get(key, ()):
            q["quantity"] = _integral_floats(q["quantity"])
    for key in ("ilmd", "sensorElementList"):
        if key in out:
            out[key] = _integral_floats(out[key])
    return out


def _check_shape(ev: EventIn, where: str) -> None:
    if ev.type == "TransformationEvent":
        if ev.action is not None:
            raise InputError(f"{where}.action: a TransformationEvent has no action", field=f"{where}.action")
        if not ev.inputQuantityList and not ev.epcList:
            raise InputError(
                f"{where}.inputQuantityList: a TransformationEvent needs its input lots",
                field=f"{where}.inputQuantityList",
            )
        for i, q in enumerate(ev.inputQuantityList or []):
            if q.lot is None:
                raise InputError(
                    f"{where}.inputQuantityList.{i}.lot: name the input lot's id",
                    field=f"{where}.inputQuantityList.{i}.lot",
                )
    elif ev.action is None:
        raise InputError(f"{where}.action: expected ADD, OBSERVE or DELETE", field=f"{where}.action")
    if ev.type == "AggregationEvent" and ev.parentID is None and ev.action != "OBSERVE":
        raise InputError(f"{where}.parentID: an AggregationEvent needs its parent (SSCC)", field=f"{where}.parentID")


_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def _integral_floats(value: Any) -> Any:
    """Write whole-number floats as ints, so 1200.0 and 1200 sign the same bytes."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats(v) for v in value]
    return value
