"""Master data: organizations, products and lots, validated (pure; no database).

These models are the inputs of the ledger services and double as the API's request schemas.
A lot's origin, plot and harvest data are also written into the ``ilmd`` of its commissioning
event, so ``lot_ilmd`` and ``lot_fields_from_ilmd`` must stay exact inverses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledger.core import bounds, gs1
from ledger.errors import InputError

OrgKind = Literal["cooperative", "company", "inspector", "exporter", "authority", "operator"]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
Name = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(min_length=1, max_length=100)]


def _gs1_prefix(v: str) -> str:
    if not re.fullmatch(r"[0-9]{4,12}", v):
        raise ValueError(f"a GS1 company prefix: expected 4 to 12 digits, got {v!r}")
    return v


GS1Prefix = Annotated[str, AfterValidator(_gs1_prefix), Field(max_length=12, examples=["8930000"])]
GS1Prefixes = Annotated[
    list[GS1Prefix],
    Field(max_length=20, description="GS1 company prefixes (4-12 digits) the organization's GTINs lie under"),
]


class _Strict(BaseModel):
    """Master data: unknown fields refused, and no text that a reader (PostgreSQL, XML, PDF) cannot hold."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        bounds.check_value(value, str(info.field_name), max_depth=8)
        return value


def _iso_date(value: Any) -> Any:
    """Dates only as ISO strings (or ``date`` objects): a number is not silently read as a Unix time."""
    if isinstance(value, bool | int | float):
        raise ValueError(f"expected an ISO 8601 date like 2026-07-01, got the number {value!r}")
    return value


def _date_in_range(value: date, info: ValidationInfo) -> date:
    return bounds.check_date(value, str(info.field_name))


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_range)]


class OrganizationCreate(_Strict):
    name: Name = Field(examples=["HTX Dịch vụ Thanh long Hữu cơ Phú Hội"])
    slug: str | None = Field(default=None, examples=["htx-phu-hoi"], description="derived from the name if absent")
    kind: OrgKind = "cooperative"
    province: Short | None = Field(default=None, examples=["Lâm Đồng"])
    gs1_prefixes: GS1Prefixes = Field(default_factory=list)
    gln: str | None = Field(default=None, examples=["8930000000019"], description="GS1 GLN of the party (AI 414)")

    @field_validator("gln")
    @classmethod
    def _gln(cls, v: str | None) -> str | None:
        return None if v is None else gs1.validate_gln(v)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        if v is not None and not _SLUG.match(v):
            raise ValueError("expected 3-64 lowercase letters, digits and dashes")
        return v


class OrganizationPrefixes(_Strict):
    gs1_prefixes: GS1Prefixes


class Certification(_Strict):
    scheme: Short = Field(examples=["VietGAP", "GlobalGAP", "organic"])
    certificate_no: Short | None = None
    issuer: Name | None = None
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None

    @model_validator(mode="after")
    def _dates(self) -> Certification:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


# UN/ECE Recommendation 20 codes a net content is given in (mass, volume, count)
NET_CONTENT_UNITS = frozenset(
    {"MGM", "GRM", "KGM", "ONZ", "LBR", "MLT", "CLT", "DLT", "LTR", "OZA", "GLL", "H87", "C62"}
)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class NetContent(_Strict):
    """A package's net content: a positive number and its UN/ECE Rec. 20 unit, e.g. 500 GRM."""

    model_config = ConfigDict(extra="forbid", strict=True)
    value: Annotated[int | float, Field(gt=0, le=1_000_000, allow_inf_nan=False, examples=[500])]
    unit: str = Field(examples=["GRM", "KGM", "MLT", "LTR", "H87"])

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        if v not in NET_CONTENT_UNITS:
            raise ValueError(f"expected a UN/ECE Rec. 20 unit code, one of {', '.join(sorted(NET_CONTENT_UNITS))}")
        return v


def _image_hash(v: str) -> str:
    if not isinstance(v, str) or not _SHA256_HEX.match(v):
        raise ValueError("expected the lowercase hex SHA-256 (64 characters) of an uploaded image")
    return v


ImageHash = Annotated[str, AfterValidator(_image_hash)]


class ProductCreate(_Strict):
    gtin: str = Field(examples=["08930000045676"], description="GTIN-8/12/13/14; stored as GTIN-14")
    name_vi: Name
    name_en: Name | None = None
    name_zh: Name | None = Field(default=None, examples=["大叻红心火龙果"])
    name_ja: Name | None = Field(default=None, examples=["ダラット産レッドドラゴンフルーツ"])
    category: Short | None = Field(default=None, examples=["fruit", "coffee", "tea", "confectionery"])
    brand: Name | None = Field(default=None, examples=["Phú Hội"])
    net_content: NetContent | None = Field(default=None, examples=[{"value": 500, "unit": "GRM"}])
    images: list[ImageHash] = Field(
        default_factory=list,
        max_length=20,
        description="SHA-256 (lowercase hex) of images uploaded with POST /api/v1/products/images",
    )
    ocop_stars: int | None = Field(default=None, ge=3, le=5)
    ocop_year: int | None = Field(default=None, ge=2018, le=2100)
    certifications: list[Certification] = Field(default_factory=list, max_length=20)

    @field_validator("images")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an image is listed twice")
        return v

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, v: str) -> str:
        return gs1.normalize_gtin(v)

    @model_validator(mode="after")
    def _stars(self) -> ProductCreate:
        if (self.ocop_stars is None) != (self.ocop_year is None):
            raise ValueError("ocop_stars and ocop_year go together: give both or neither")
        return self


def _check_position(pos: Any, where: str) -> list[float]:
    if not (isinstance(pos, list) and len(pos) == 2 and all(isinstance(c, int | float) for c in pos)):
        raise ValueError(f"{where}: expected [longitude, latitude]")
    lon, lat = float(pos[0]), float(pos[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"{where}: expected WGS84 longitude -180..180 and latitude -90..90, got {pos}")
    return [round(lon, 6), round(lat, 6)]


def validate_geometry(geom: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Point or Polygon in WGS84, coordinates rounded to six decimals."""
    kind = geom.get("type")
    coords = geom.get("coordinates")
    if set(geom) != {"type", "coordinates"}:
        raise ValueError(f"expected exactly type and coordinates, got {sorted(geom)}")
    if kind == "Point":
        return {"type": "Point", "coordinates": _check_position(coords, "coordinates")}
    if kind == "Polygon":
        if not isinstance(coords, list) or not coords:
            raise ValueError("Polygon needs at least one linear ring")
        rings = []
        for i, ring in enumerate(coords):
            if not isinstance(ring, list) or len(ring) < 4:
                raise ValueError(f"ring {i}: a linear ring needs at least 4 positions")
            pts = [_check_position(p, f"ring {i} position {j}") for j, p in enumerate(ring)]
            if pts[0] != pts[-1]:
                raise ValueError(f"ring {i}: a linear ring must end where it starts")
            rings.append(pts)
        return {"type": "Polygon", "coordinates": rings}
    raise ValueError(f"expected a Point or Polygon geometry, got {kind!r}")


class LotCreate(_Strict):
    gtin: str = Field(examples=["08930000045676"])
    code: str = Field(examples=["PH-2026-07-A"], description="batch/lot number, GS1 AI (10)")
    origin_province: Short | None = Field(default=None, examples=["Lâm Đồng"])
    origin_commune: Short | None = Field(default=None, examples=["phường Bình Thuận"])
    growing_area_code: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, examples=["VN-LDPH-0042"]
    )
    packing_house_code: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, examples=["VN-PH-0042"], description="code of the packing house the lot was packed in"
    )
    plot: dict[str, Any] | None = Field(default=None, description="GeoJSON Point or Polygon, WGS84")
    plot_area_ha: float | None = Field(default=None, gt=0, le=100000)
    harvest_start: IsoDate | None = None
    harvest_end: IsoDate | None = None
    quantity: float | None = Field(default=None, gt=0, le=1e12)
    unit: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,3}$", examples=["KGM"])
    event_time: str | None = Field(default=None, description="when the lot came into being; default now")

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, v: str) -> str:
        return gs1.normalize_gtin(v)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return gs1.validate_lot_code(v)

    @field_validator("plot")
    @classmethod
    def _plot(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else validate_geometry(v)

    @model_validator(mode="after")
    def _consistent(self) -> LotCreate:
        if self.harvest_start and self.harvest_end and self.harvest_end < self.harvest_start:
            raise ValueError("harvest_end is before harvest_start")
        if (self.quantity is None) != (self.unit is None):
            raise ValueError("quantity and unit go together: give both or neither")
        return self

    @property
    def lot_id(self) -> str:
        return gs1.lot_id(self.gtin, self.code)


_ILMD_FIELDS = {
    "origin_province": "ocop:originProvince",
    "origin_commune": "ocop:originCommune",
    "growing_area_code": "ocop:growingAreaCode",
    "packing_house_code": "ocop:packingHouseCode",
    "plot": "ocop:plot",
    "plot_area_ha": "ocop:plotAreaHa",
    "harvest_start": "ocop:harvestStart",
    "harvest_end": "ocop:harvestEnd",
}


def lot_ilmd(lot: LotCreate) -> dict[str, Any]:
    """The lot master data as it is signed in the commissioning event's ``ilmd``."""
    out: dict[str, Any] = {"ocop:gtin": lot.gtin, "ocop:lotCode": lot.code}
    for field, key in _ILMD_FIELDS.items():
        value = getattr(lot, field)
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def lot_fields_from_ilmd(ilmd: dict[str, Any]) -> dict[str, Any]:
    """The lot row's signed fields as recorded in a commissioning event's ``ilmd``."""
    out: dict[str, Any] = {"gtin": ilmd.get("ocop:gtin"), "code": ilmd.get("ocop:lotCode")}
    for field, key in _ILMD_FIELDS.items():
        value = ilmd.get(key)
        if field.startswith("harvest_") and value is not None:
            value = date.fromisoformat(value)
        out[field] = value
    return out


def input_error(exc: Exception, where: str) -> InputError:
    """A pydantic ``ValidationError`` as an ``InputError`` naming the first bad field."""
    from pydantic import ValidationError

    from ledger.core.events import error_list

    if isinstance(exc, ValidationError):
        errs = error_list(exc, where)
        first = errs[0]
        return InputError(f"{first['field']}: {first['message']}", field=str(first["field"]), details=errs)
    return InputError(str(exc))
