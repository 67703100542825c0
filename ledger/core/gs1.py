"""GS1 identifiers: GTIN-14, SSCC, lot numbers (AI 10) and Digital Link URIs.

Pure functions; raise ``InputError`` with the expected and the found value.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from ledger.errors import InputError

# GS1 General Specifications, figure 7.11-1: the 82-character set for alphanumeric AIs.
# fullmatch, not ``^...$``: ``$`` also matches before a trailing newline.
_GS1_CHARSET_82 = re.compile(r"""[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}""")
_DIGITS = re.compile(r"[0-9]+")


def check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits in ``body`` (weights 3,1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _validate_numeric(value: str, name: str, lengths: tuple[int, ...]) -> str:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or len(value) not in lengths:
        raise InputError(f"{name} must be {' or '.join(map(str, lengths))} digits, got {value!r}", field=name.lower())
    want = check_digit(value[:-1])
    if int(value[-1]) != want:
        raise InputError(
            f"{name} check digit is wrong: expected {want}, got {value[-1]} in {value}",
            field=name.lower(),
        )
    return value


def normalize_gtin(value: str) -> str:
    """A GTIN-8/12/13/14 as GTIN-14 (left-padded with zeros), check digit verified."""
    if isinstance(value, str) and len(value) <= 14:
        return _gtin14(value)  # every append checks its lot's GTIN: the valid ones are remembered
    _validate_numeric(value, "GTIN", (8, 12, 13, 14))
    return value.zfill(14)


@functools.lru_cache(maxsize=4096)
def _gtin14(value: str) -> str:
    _validate_numeric(value, "GTIN", (8, 12, 13, 14))
    return value.zfill(14)


def validate_gln(value: str) -> str:
    """A GLN (13 digits), check digit verified."""
    _validate_numeric(value, "GLN", (13,))
    return value


def validate_sscc(value: str) -> str:
    """An 18-digit Serial Shipping Container Code with a valid check digit."""
    return _validate_numeric(value, "SSCC", (18,))


def validate_lot_code(value: str) -> str:
    """A batch/lot number valid as GS1 AI (10): 1–20 characters of the GS1 82-character set."""
    if not isinstance(value, str) or not _GS1_CHARSET_82.fullmatch(value):
        raise InputError(
            "lot code must be 1 to 20 characters of the GS1 character set "
            f"(letters, digits and !\"%&'()*+,-./:;<=>?_), got {value!r}",
            field="code",
        )
    return value


def lot_id(gtin: str, code: str) -> str:
    """The ledger's lot id: GTIN-14, a dot, the lot code (unambiguous: the GTIN has 14 digits)."""
    return f"{normalize_gtin(gtin)}.{validate_lot_code(code)}"


def split_lot_id(value: str) -> tuple[str, str]:
    """The (GTIN-14, lot code) of a lot id; ``InputError`` if it is not one."""
    if not isinstance(value, str) or len(value) < 16 or value[14] != ".":
        raise InputError(f"lot id must look like <GTIN-14>.<lot code>, got {value!r}", field="lot")
    return normalize_gtin(value[:14]), validate_lot_code(value[15:])


def digital_link(base_url: str, gtin: str, code: str) -> str:
    """The GS1 Digital Link URI of a lot: ``{base}/01/{gtin14}/10/{lot}`` (lot percent-encoded)."""
    return f"{base_url.rstrip('/')}/01/{normalize_gtin(gtin)}/10/{quote(validate_lot_code(code), safe='')}"


def sscc_link(base_url: str, sscc: str) -> str:
    """The GS1 Digital Link URI of a logistic unit: ``{base}/00/{sscc}``."""
    return f"{base_url.rstrip('/')}/00/{validate_sscc(sscc)}"


def make_gtin(prefix: str, item: int) -> str:
    """A GTIN-13 (as GTIN-14) from a company prefix and an item number, with its check digit."""
    body = f"{prefix}{item:0{12 - len(prefix)}d}"
    if len(body) != 12:
        raise InputError(f"prefix and item do not fit a GTIN-13: got {body!r}")
    return "0" + body + str(check_digit(body))
