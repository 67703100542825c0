"""GS1 identifiers: GTINs, SSCCs, lot codes (AI 10), lot ids and Digital Link URIs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import gs1
from ledger.errors import InputError

GS1_CHARSET = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def _mod10(body: str) -> int:
    """Independent GS1 check digit: weight 3 on the digit next to the check digit, alternating."""
    weights = [3, 1] * 10
    return -sum(int(d) * w for d, w in zip(reversed(body), weights, strict=False)) % 10


@pytest.mark.parametrize(
    ("value", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        ("4006381333931", "04006381333931"),  # GTIN-13
        ("8934588012112", "08934588012112"),  # GTIN-13, Vietnamese prefix 893
        ("10012345678902", "10012345678902"),  # GTIN-14
    ],
)
def test_valid_gtins_normalize_to_gtin14(value: str, gtin14: str) -> None:
    assert gs1.normalize_gtin(value) == gtin14


@pytest.mark.parametrize(
    ("value", "want", "got"),
    [("4006381333932", 1, 2), ("08930000045670", 6, 0), ("96385075", 4, 5)],
)
def test_wrong_check_digit_says_expected_and_got(value: str, want: int, got: int) -> None:
    with pytest.raises(InputError, match=f"GTIN check digit is wrong: expected {want}, got {got} in {value}") as exc:
        gs1.normalize_gtin(value)
    assert exc.value.field == "gtin"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1234567",
        "400638133",
        "4006381333931" + "0" * 2,
        "400638133393a",
        "4006 381333931",
        "４００６３８１３３３９３１",
    ],
)
def test_malformed_gtins(value: str) -> None:
    with pytest.raises(InputError, match="GTIN must be 8 or 12 or 13 or 14 digits"):
        gs1.normalize_gtin(value)


@pytest.mark.parametrize("value", ["4006381333931\n", "8930000045676\n", "96385074\n"])
def test_gtin_with_trailing_newline_is_refused(value: str) -> None:
    with pytest.raises(InputError, match="must be 8 or 12 or 13 or 14 digits"):
        gs1.normalize_gtin(value)


@settings(max_examples=200, deadline=None)
@given(body=st.text("0123456789", min_size=12, max_size=12), wrong=st.integers(1, 9))
def test_check_digit_property(body: str, wrong: int) -> None:
    digit = gs1.check_digit(body)
    assert digit == _mod10(body)
    assert gs1.normalize_gtin(body + str(digit)) == "0" + body + str(digit)
    bad = body + str((digit + wrong) % 10)
    with pytest.raises(InputError, match=f"expected {digit}, got {(digit + wrong) % 10}"):
        gs1.normalize_gtin(bad)


def test_sscc() -> None:
    assert gs1.validate_sscc("376104250021234569") == "376104250021234569"
    with pytest.raises(InputError, match="SSCC check digit is wrong: expected 9, got 8"):
        gs1.validate_sscc("376104250021234568")
    with pytest.raises(InputError, match="SSCC must be 18 digits"):
        gs1.validate_sscc("37610425002123456")


@pytest.mark.parametrize(
    "code", ["A", "PH-2026-07-A", "x" * 20, GS1_CHARSET[:20], GS1_CHARSET[20:40], GS1_CHARSET[62:]]
)
def test_valid_lot_codes(code: str) -> None:
    assert gs1.validate_lot_code(code) == code


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("x" * 21, id="21-chars"),
        pytest.param("", id="empty"),
        pytest.param("PH 2026", id="space"),
        pytest.param("PH#1", id="hash"),
        pytest.param("LÔ-1", id="non-ascii"),
        pytest.param("PH~1", id="tilde"),
        pytest.param("PH-1\n", id="trailing-newline"),
        pytest.param("PH-1\t", id="tab"),
    ],
)
def test_invalid_lot_codes(code: str) -> None:
    with pytest.raises(InputError, match="lot code must be 1 to 20 characters of the GS1 character set") as exc:
        gs1.validate_lot_code(code)
    assert exc.value.field == "code"


def test_every_gs1_character_is_accepted() -> None:
    assert len(GS1_CHARSET) == 82
    for i in range(0, 82, 20):
        gs1.validate_lot_code(GS1_CHARSET[i : i + 20])


def test_lot_id_round_trip() -> None:
    lid = gs1.lot_id("8934588012112", "PH-2026-07-A")
    assert lid == "08934588012112.PH-2026-07-A"
    assert gs1.split_lot_id(lid) == ("08934588012112", "PH-2026-07-A")
    assert gs1.split_lot_id("08934588012112.a.b") == ("08934588012112", "a.b")  # the GTIN has fixed length


@pytest.mark.parametrize("value", ["08934588012112", "8934588012112.A", "08934588012112-A", "08934588012112."])
def test_split_lot_id_rejects_non_lot_ids(value: str) -> None:
    with pytest.raises(InputError):
        gs1.split_lot_id(value)


def test_split_lot_id_checks_gtin_and_code() -> None:
    with pytest.raises(InputError, match="check digit is wrong"):
        gs1.split_lot_id("08934588012113.A")
    with pytest.raises(InputError, match="lot code must be"):
        gs1.split_lot_id("08934588012112.A B")


def test_digital_link() -> None:
    assert (
        gs1.digital_link("https://ocop.example/", "8934588012112", "PH/07")
        == "https://ocop.example/01/08934588012112/10/PH%2F07"
    )
    assert gs1.digital_link("http://x", "96385074", "A-1") == "http://x/01/00000096385074/10/A-1"
    assert gs1.sscc_link("http://x/", "376104250021234569") == "http://x/00/376104250021234569"
    with pytest.raises(InputError):
        gs1.digital_link("http://x", "96385074", "A 1")


def test_make_gtin() -> None:
    g = gs1.make_gtin("893", 4567)
    assert g == "08930000045676"
    assert gs1.normalize_gtin(g) == g
    with pytest.raises(InputError, match="do not fit a GTIN-13"):
        gs1.make_gtin("893", 10**10)
