"""Declared against attested growing-area and packing-house codes (``ledger.core.codes``)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.core import codes

LOT = "08930000045676.PH-1"
ILMD = {"ocop:gtin": "08930000045676", "ocop:lotCode": "PH-1", "ocop:growingAreaCode": "VN-LDPH-0042"}


def claim(kind: str, code: str, by: str) -> dict[str, Any]:
    return {"claim": {"type": kind, "code": code}, "by": by}


def test_declared_only() -> None:
    got = codes.code_facts(codes.declared_codes(ILMD), [])
    assert got == {
        "growing_area_code": {
            "code": "VN-LDPH-0042",
            "declared": "VN-LDPH-0042",
            "status": "declared",
            "attested_by": [],
            "conflicts": [],
        }
    }


def test_attested_when_an_authority_attests_the_declared_code() -> None:
    got = codes.code_facts(codes.declared_codes(ILMD), [claim("growing_area_code", "VN-LDPH-0042", "BVTV")])
    assert got["growing_area_code"]["status"] == "attested"
    assert got["growing_area_code"]["attested_by"] == ["BVTV"]


def test_a_different_attested_code_is_a_mismatch_naming_both() -> None:
    attested = [claim("growing_area_code", "VN-LDPH-0042", "A"), claim("growing_area_code", "VN-LDPH-0099", "B")]
    fact = codes.code_facts(codes.declared_codes(ILMD), attested)["growing_area_code"]
    assert fact["status"] == "mismatch"
    assert fact["attested_by"] == ["A"] and fact["conflicts"] == [{"code": "VN-LDPH-0099", "by": "B"}]
    assert codes.mismatch_text("growing_area_code", fact) == (
        "growing-area code mismatch: the producer declares VN-LDPH-0042, but B attests VN-LDPH-0099"
    )


def test_attested_without_a_declaration_and_other_claims_ignored() -> None:
    attested = [
        claim("packing_house_code", "VN-PH-0007", "BVTV"),
        {"claim": {"type": "ocop_rating", "stars": 4, "year": 2024}, "by": "OCOP"},
    ]
    got = codes.code_facts(codes.declared_codes({}), attested)
    assert list(got) == ["packing_house_code"]
    assert got["packing_house_code"]["status"] == "attested" and got["packing_house_code"]["declared"] is None


@pytest.mark.parametrize(
    ("about", "ilmd", "expected"),
    [
        ({"type": "lot", "id": LOT}, ILMD, True),
        ({"type": "plot", "id": "VN-LDPH-0042"}, ILMD, True),
        ({"type": "plot", "id": "VN-LDPH-0043"}, ILMD, False),
        ({"type": "plot", "id": "VN-LDPH-0042"}, {}, False),
        ({"type": "product", "id": "08930000045676"}, ILMD, False),
        ({"type": "lot", "id": "08930000045676.PH-2"}, ILMD, False),
    ],
)
def test_about_the_lot_or_its_plot(about: dict[str, str], ilmd: dict[str, Any], expected: bool) -> None:
    assert codes.about_lot(about, LOT, ilmd) is expected


def test_malformed_ilmd_declares_nothing() -> None:
    assert codes.declared_codes({"ocop:growingAreaCode": 7}) == {"growing_area_code": None, "packing_house_code": None}
    assert codes.plot_id(None) is None
