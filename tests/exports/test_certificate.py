"""The certificate PDF, rendered to text with pdftotext (Debian poppler-utils) and read back."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.exports import certificate
from ledger.service import Ledger
from tests.exports.scenario import Scene


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        msg = "pdftotext is missing: apt-get install poppler-utils"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    return subprocess.run([exe, "-raw", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_shipment_certificate(ledger: Ledger, scene: Scene, tmp_path: Path) -> None:
    cert = certificate.build(
        ledger, base_url="https://ocop.example", sscc=scene.sscc, now=datetime(2026, 8, 2, tzinfo=UTC)
    )
    pdf = certificate.render(cert)
    assert pdf.startswith(b"%PDF")
    text = " ".join(pdf_text(pdf, tmp_path).split())
    for needle in [
        "GIẤY CHỨNG NHẬN NGUỒN GỐC / CERTIFICATE OF PROVENANCE",
        f"Lô hàng / Shipment SSCC {scene.sscc}",
        "Sầu riêng đông lạnh / Frozen durian",
        "Công ty Đông lạnh Mekong",
        "OCOP 5 sao / stars (2025)",
        "HỢP LỆ, CHỜ NEO / VALID, ANCHOR PENDING",
        f"https://ocop.example/00/{scene.sscc}",
        "Cấp đông / Freezing",
        "Thu hoạch / Harvesting",
        "Xuất hàng / Shipping",
        "Vườn Cái Mơn",
        "Chưa neo / Not anchored yet",
        "2026-08-02",
    ]:
        assert needle in text, needle
    assert scene.raw1 in text.replace(" ", "") and scene.raw2 in text.replace(" ", "")


def test_lot_certificate_shows_origin_and_tampering(ledger: Ledger, scene: Scene, tmp_path: Path) -> None:
    from sqlalchemy import update

    from ledger.store.db import write_tx
    from ledger.store.models import LogEntry

    with write_tx(ledger.engine) as conn:
        t = LogEntry.__table__  # type: ignore[attr-defined]
        conn.execute(update(t).where(t.c.idx == 2).values(sig="A" * 88))
    pdf = certificate.render(certificate.build(ledger, base_url="https://ocop.example", lot=scene.raw1))
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert "BỊ SỬA ĐỔI / TAMPERED" in text
    assert "signature at log index 2" in text
    assert "Sầu riêng Ri6 tươi / Fresh Ri6 durian" in text and "OCOP 4 sao" in text
    assert "xã Vĩnh Thành, Bến Tre" in text and "VN-BTCM-0007" in text


def test_missing_font_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.errors import ConfigError

    monkeypatch.setattr(certificate, "FONT_CANDIDATES", (tmp_path / "none.ttf",))
    with pytest.raises(ConfigError, match="fonts-dejavu-core"):
        certificate.find_font()
