"""QR codes of GS1 Digital Link URLs (PNG, SVG) and A4 label sheets (PDF).

Error correction level M (15 % of the code may be damaged) or better, a quiet zone of 4
modules (ISO/IEC 18004), an optional caption under the code. Pure: values in, bytes out; the
fonts are looked up on the system (DejaVu or Liberation for Vietnamese text) with a plain
fallback.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import qrcode  # type: ignore[import-untyped]
import qrcode.constants  # type: ignore[import-untyped]

from ledger.errors import InputError

QUIET_ZONE = 4
_LEVELS = {
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
_FONTS = {
    "regular": ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"),
    "bold": ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf"),
}


def matrix(data: str, level: str = "M") -> list[list[bool]]:
    """The QR modules of ``data`` including the quiet zone (True = dark)."""
    if level not in _LEVELS:
        raise InputError(f"error correction must be one of M, Q, H; got {level!r}", field="level")
    if not data or len(data) > 1000:
        raise InputError(f"QR data must be 1-1000 characters, got {len(data)}", field="data")
    code = qrcode.QRCode(error_correction=_LEVELS[level], border=QUIET_ZONE)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def svg(data: str, caption: str | None = None, *, level: str = "M", module_px: int = 8) -> bytes:
    """An SVG of the code, dark modules merged into horizontal runs, with an optional caption."""
    m = matrix(data, level)
    n = len(m)
    path = []
    for y, row in enumerate(m):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                path.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    cap_h = 3 if caption else 0
    size = n * module_px
    height = (n + cap_h) * module_px
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{height}" '
        f'viewBox="0 0 {n} {n + cap_h}" shape-rendering="crispEdges" role="img" aria-label="{escape(data)}">',
        f'<rect width="{n}" height="{n + cap_h}" fill="#fff"/>',
        f'<path fill="#000" d="{"".join(path)}"/>',
    ]
    if caption:
        parts.append(
            f'<text x="{n / 2}" y="{n + 1.2}" font-family="DejaVu Sans, Arial, sans-serif" font-size="1.6" '
            f'text-anchor="middle" fill="#000">{escape(caption)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts).encode("utf-8")


def png(data: str, caption: str | None = None, *, level: str = "M", module_px: int = 8) -> bytes:
    """A PNG of the code (1 dark module = ``module_px`` pixels), with an optional caption."""
    from PIL import Image, ImageDraw

    if not 1 <= module_px <= 40:
        raise InputError(f"module size must be 1-40 pixels, got {module_px}", field="module_px")
    m = matrix(data, level)
    n = len(m)
    size = n * module_px
    cap_h = module_px * 3 if caption else 0
    img = Image.new("L", (size, size + cap_h), 255)
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(m):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle((x * module_px, y * module_px, (x + 1) * module_px - 1, (y + 1) * module_px - 1), fill=0)
    if caption:
        font = _pil_font(max(10, int(module_px * 1.6)))
        text = caption if _font_path("regular") else ascii_text(caption)
        draw.text((size / 2, size + module_px * 0.2), text, fill=0, font=font, anchor="ma")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=4)
def _font_path(weight: str) -> str | None:
    for name in _FONTS[weight]:
        for d in _FONT_DIRS:
            p = Path(d) / name
            if p.exists():
                return str(p)
    return None


def _pil_font(size: int) -> Any:
    from PIL import ImageFont

    path = _font_path("regular")
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def ascii_text(text: str) -> str:
    """Vietnamese text without diacritics, for when no font with Vietnamese glyphs is found."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@dataclass(frozen=True)
class Label:
    """What one sticker shows: the code of ``url``, the product name, the lot code, the OCOP stars."""

    url: str
    product: str
    lot: str
    stars: int | None = None


# A4 portrait, 3 columns x 7 rows of 70 x 42.3 mm stickers (a common label stock layout).
SHEET_COLS, SHEET_ROWS = 3, 7


def label_sheet_pdf(labels: Sequence[Label], *, title: str = "OCOP Ledger") -> bytes:
    """An A4 PDF of stickers, ``SHEET_COLS`` x ``SHEET_ROWS`` per page, one per label in order."""
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

    if not labels:
        raise InputError("a label sheet needs at least one label", field="labels")
    regular, bold = _pdf_fonts()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1, invariant=1)
    pdf.setTitle(title)
    page_w, page_h = A4
    cell_w, cell_h = page_w / SHEET_COLS, (page_h - 20 * mm) / SHEET_ROWS
    per_page = SHEET_COLS * SHEET_ROWS
    for i, label in enumerate(labels):
        if i and i % per_page == 0:
            pdf.showPage()
        col, row = (i % per_page) % SHEET_COLS, (i % per_page) // SHEET_COLS
        x0, y0 = col * cell_w, page_h - 10 * mm - (row + 1) * cell_h
        _draw_label(pdf, label, x0, y0, cell_w, cell_h, regular, bold)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _draw_label(pdf: Any, label: Label, x0: float, y0: float, w: float, h: float, regular: str, bold: str) -> None:
    from reportlab.lib.units import mm

    m = matrix(label.url, "M")
    side = h - 4 * mm
    mod = side / len(m)
    qx, qy = x0 + 2 * mm, y0 + 2 * mm
    pdf.setFillGray(0)
    for r, row in enumerate(m):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(qx + c * mod, qy + side - (r + 1) * mod, mod, mod, stroke=0, fill=1)
    tx, tw = qx + side + 1 * mm, w - side - 5 * mm
    text = label.product if regular != "Helvetica" else ascii_text(label.product)
    y = y0 + h - 8 * mm
    for line in _wrap(text, tw, bold, 8.5, pdf)[:3]:
        pdf.setFont(bold, 8.5)
        pdf.drawString(tx, y, line)
        y -= 3.8 * mm
    pdf.setFont(regular, 7.5)
    pdf.drawString(tx, y - 1 * mm, f"Lô / Lot: {label.lot}" if regular != "Helvetica" else f"Lot: {label.lot}")
    if label.stars:
        pdf.setFont(regular, 7)
        pdf.drawString(tx, y0 + 4 * mm, "OCOP")
        for s in range(label.stars):
            _star(pdf, tx + 10 * mm + s * 4.2 * mm, y0 + 5.2 * mm, 1.8 * mm)


def _wrap(text: str, width: float, font: str, size: float, pdf: Any) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if pdf.stringWidth(trial, font, size) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    return [*lines, cur] if cur else lines


def _star(pdf: Any, cx: float, cy: float, r: float) -> None:
    import math

    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * 0.45
        a = math.pi / 2 + k * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    path = pdf.beginPath()
    path.moveTo(*pts[0])
    for p in pts[1:]:
        path.lineTo(*p)
    path.close()
    pdf.setFillColorRGB(0.85, 0.6, 0.05)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.setFillGray(0)


@lru_cache(maxsize=1)
def _pdf_fonts() -> tuple[str, str]:
    """Register a TrueType font with Vietnamese glyphs; Helvetica (ASCII text) if none is found."""
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    from ledger.exports.pdf_fonts import fix_to_unicode

    regular, bold = _font_path("regular"), _font_path("bold")
    if not (regular and bold):
        return "Helvetica", "Helvetica-Bold"
    fix_to_unicode()  # emoji in a product name read back right
    pdfmetrics.registerFont(TTFont("OcopSans", regular))
    pdfmetrics.registerFont(TTFont("OcopSans-Bold", bold))
    return "OcopSans", "OcopSans-Bold"
