"""Master data: organizations, products, lots and their geometry."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.core.records import (
    Certification,
    LotCreate,
    OrganizationCreate,
    ProductCreate,
    input_error,
    lot_fields_from_ilmd,
    lot_ilmd,
    validate_geometry,
)
from ledger.errors import InputError
from tests.helpers import lot_fields

GTIN = "08930000045676"
SQUARE = [[108.37, 11.72], [108.38, 11.72], [108.38, 11.73], [108.37, 11.73], [108.37, 11.72]]


def test_organization() -> None:
    org = OrganizationCreate(name="HTX Thanh long Phú Hội", slug="htx-phu-hoi", kind="cooperative")
    assert org.province is None
    for slug in ["HTX", "a", "-abc", "abc-", "ab c", "đà-lạt"]:
        with pytest.raises(ValidationError, match="expected 3-64 lowercase letters, digits and dashes"):
            OrganizationCreate(name="x", slug=slug)
    with pytest.raises(ValidationError, match="kind"):
        OrganizationCreate(name="x", kind="bank")


def test_product() -> None:
    p = ProductCreate(gtin="8930000045676", name_vi="Thanh long ruột đỏ", ocop_stars=4, ocop_year=2024)
    assert p.gtin == GTIN
    with pytest.raises(ValidationError, match="GTIN check digit is wrong: expected 6, got 5"):
        ProductCreate(gtin="8930000045675", name_vi="x")
    with pytest.raises(ValidationError, match="ocop_stars"):
        ProductCreate(gtin=GTIN, name_vi="x", ocop_stars=6, ocop_year=2024)
    with pytest.raises(ValidationError, match="ocop_stars"):
        ProductCreate(gtin=GTIN, name_vi="x", ocop_stars=2, ocop_year=2024)
    with pytest.raises(ValidationError, match="ocop_stars and ocop_year go together"):
        ProductCreate(gtin=GTIN, name_vi="x", ocop_stars=3)


def test_certification_dates() -> None:
    Certification(scheme="VietGAP", valid_from=date(2025, 1, 1), valid_to=date(2027, 1, 1))
    with pytest.raises(ValidationError, match="valid_to is before valid_from"):
        Certification(scheme="VietGAP", valid_from=date(2027, 1, 1), valid_to=date(2025, 1, 1))


def test_lot() -> None:
    lot = LotCreate.model_validate(lot_fields("8930000045676", " PH-2026-07-A "))
    assert lot.lot_id == f"{GTIN}.PH-2026-07-A"
    assert lot.harvest_start == date(2026, 6, 28)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"code": "X" * 21}, "lot code must be 1 to 20 characters"),
        ({"code": "LÔ 1"}, "lot code must be 1 to 20 characters"),
        ({"gtin": "08930000045677"}, "check digit is wrong: expected 6, got 7"),
        ({"harvest_start": "2026-07-01", "harvest_end": "2026-06-01"}, "harvest_end is before harvest_start"),
        ({"unit": None}, "quantity and unit go together"),
        ({"unit": "kg"}, "String should match pattern"),
        ({"quantity": 0}, "greater than 0"),
        ({"plot_area_ha": -1}, "greater than 0"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_lots(over: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        LotCreate.model_validate({**lot_fields(GTIN, "PH-1"), **over})


def test_geometry_point_and_polygon() -> None:
    assert validate_geometry({"type": "Point", "coordinates": [108.123456789, 11]}) == {
        "type": "Point",
        "coordinates": [108.123457, 11.0],
    }
    poly = validate_geometry({"type": "Polygon", "coordinates": [SQUARE]})
    assert poly["coordinates"][0][0] == [108.37, 11.72]


@pytest.mark.parametrize(
    ("geom", "match"),
    [
        ({"type": "Point", "coordinates": [181, 10]}, "WGS84 longitude -180..180 and latitude -90..90"),
        ({"type": "Point", "coordinates": [108, -91]}, "WGS84 longitude"),
        ({"type": "Point", "coordinates": [108, 11, 5]}, r"expected \[longitude, latitude\]"),
        ({"type": "Point", "coordinates": ["108", "11"]}, r"expected \[longitude, latitude\]"),
        ({"type": "Point", "coordinates": [float("nan"), 11]}, "WGS84 longitude"),
        ({"type": "Polygon", "coordinates": []}, "Polygon needs at least one linear ring"),
        ({"type": "Polygon", "coordinates": [SQUARE[:3]]}, "ring 0: a linear ring needs at least 4 positions"),
        ({"type": "Polygon", "coordinates": [SQUARE[:4]]}, "ring 0: a linear ring must end where it starts"),
        ({"type": "Polygon", "coordinates": [SQUARE, [[0, 0], [1, 0], [200, 1], [0, 0]]]}, "ring 1 position 2"),
        ({"type": "LineString", "coordinates": SQUARE}, "expected a Point or Polygon geometry, got 'LineString'"),
        ({"type": "Point", "coordinates": [1, 1], "crs": "x"}, "expected exactly type and coordinates"),
    ],
)
def test_invalid_geometry(geom: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_geometry(geom)
    with pytest.raises(ValidationError, match=match):
        LotCreate.model_validate(lot_fields(GTIN, "PH-1", plot=geom))


def test_ilmd_round_trip() -> None:
    lot = LotCreate.model_validate(lot_fields(GTIN, "PH-1", plot={"type": "Polygon", "coordinates": [SQUARE]}))
    ilmd = lot_ilmd(lot)
    assert ilmd["ocop:gtin"] == GTIN and ilmd["ocop:lotCode"] == "PH-1"
    assert ilmd["ocop:harvestStart"] == "2026-06-28"
    back = lot_fields_from_ilmd(ilmd)
    assert back == {k: getattr(lot, k) for k in back}
    sparse = LotCreate(gtin=GTIN, code="PH-2")
    assert lot_ilmd(sparse) == {"ocop:gtin": GTIN, "ocop:lotCode": "PH-2"}
    assert lot_fields_from_ilmd(lot_ilmd(sparse))["origin_province"] is None


def test_input_error_names_the_first_field() -> None:
    with pytest.raises(ValidationError) as exc:
        LotCreate.model_validate({"gtin": GTIN})
    err = input_error(exc.value, "lot")
    assert isinstance(err, InputError)
    assert err.field == "lot.code"
    assert str(err) == "lot.code: Field required"
    assert str(input_error(ValueError("plain"), "lot")) == "plain"
