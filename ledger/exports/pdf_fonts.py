"""Text a PDF font can show, and a correct text layer for characters beyond the BMP.

- ``shown``: characters the font has no glyph for would vanish from the page (ReportLab drops
  them); they become U+FFFD so the reader sees that something was there.
- ``fix_to_unicode``: ReportLab 5 writes each subset character's ToUnicode entry as ``<%04X>``,
  so a character above U+FFFF (``😀`` = ``1F600``) reads back wrong (as U+1F60). The PDF
  specification wants UTF-16BE there (a surrogate pair); this installs a ToUnicode builder that
  writes it, identical to ReportLab's for every other character.
"""

from __future__ import annotations

from typing import Any

from ledger.exports.sanitize import REPLACEMENT


def shown(text: str, font_name: str) -> str:
    """``text`` with every character the registered TTF ``font_name`` lacks replaced by U+FFFD."""
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]

    glyphs: Any = pdfmetrics.getFont(font_name).face.charToGlyph
    return "".join(c if ord(c) in glyphs or c in "\t\n\r" else REPLACEMENT for c in text)


def _utf16_hex(code: int) -> str:
    return str(chr(code).encode("utf-16-be", "surrogatepass").hex().upper())


def fix_to_unicode() -> None:
    """Make ReportLab's TrueType subsets map characters above U+FFFF to UTF-16BE (idempotent)."""
    from reportlab.pdfbase import ttfonts

    original = ttfonts.makeToUnicodeCMap
    if getattr(original, "ocop_fixed", False):
        return

    def make(fontname: str, subset: list[int]) -> str:
        text = str(original(fontname, subset))
        for i, code in enumerate(subset):
            if code > 0xFFFF:
                text = text.replace(f"<{i:02X}> <{code:04X}>", f"<{i:02X}> <{_utf16_hex(code)}>", 1)
        return text

    make.ocop_fixed = True  # type: ignore[attr-defined]
    ttfonts.makeToUnicodeCMap = make
