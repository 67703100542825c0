"""PDF text layers read back what was written, beyond the BMP too (pdftotext as a reader)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from ledger.exports.certificate import Certificate, find_font, render
from ledger.exports.pdf_fonts import shown
from ledger.exports.sanitize import REPLACEMENT
from ledger.qr import Label, label_sheet_pdf

NAME = "Cà phê ☕ 😀 Đắk Lắk"


def read(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_certificate_reads_back_characters_beyond_the_bmp() -> None:
    product = {"name_vi": NAME, "name_en": "x", "stars": 4, "year": 2024, "producer": "p", "origin": "o", "lot": "l"}
    cert = Certificate(
        subject="s", url="http://x/", products=[product], timeline=[], verdict="pending", issued=datetime.now(UTC)
    )
    assert NAME in read(render(cert))


def test_label_sheet_reads_back_characters_beyond_the_bmp() -> None:
    find_font()  # the label sheet falls back to Helvetica (ASCII) without DejaVu
    assert NAME in " ".join(read(label_sheet_pdf([Label("http://x/01/1/10/a", NAME, "L1", 4)])).split())


def test_characters_the_font_lacks_are_marked() -> None:
    render(Certificate(subject="s", url="u", products=[], timeline=[], verdict="pending"))  # registers OcopSans
    assert shown("a🍈b\tc", "OcopSans") == f"a{REPLACEMENT}b\tc"
