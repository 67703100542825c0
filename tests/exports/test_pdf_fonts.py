"""PDF text layers read back what was written, beyond the BMP too (pdftotext as a reader)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.exports.certificate import Certificate, find_font, render
from ledger.exports.pdf_fonts import shown
from ledger.exports.qr import Label, label_sheet_pdf
from ledger.exports.sanitize import REPLACEMENT

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


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=400), st.text(max_size=40))
def test_any_text_renders(name: str, step: str) -> None:
    """No string in any field stops a certificate (markup, controls, surrogates, long words)."""
    row = {"time": "2026-07-05 10:00", "step": step, "lot": name, "location": name, "index": 1}
    product = {"name_vi": name, "name_en": name, "stars": 1, "year": 2024, "producer": name, "origin": name, "lot": "l"}
    cert = Certificate(subject=name, url="http://x/", products=[product], timeline=[row] * 3, verdict=step)
    assert render(cert).startswith(b"%PDF")


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_product_name_fits_a_label(name: str) -> None:
    assert label_sheet_pdf([Label("http://x/01/1/10/a", name, "L1", 5)]).startswith(b"%PDF")
