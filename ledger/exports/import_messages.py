"""Vietnamese and English texts of CSV import errors.

Every error object the importer reports carries both ``message_vi`` and ``message_en``;
``message`` is the one in the caller's language (Vietnamese by default, the language of
the cooperatives who fill the template). The importer's own messages are written in both
languages; messages from the shared validation (English) are translated by the patterns
below, and one no pattern knows keeps its English detail behind a Vietnamese lead-in, so
nothing is ever lost in translation.
"""

from __future__ import annotations

import re
from typing import Any

LANGS = ("vi", "en")

# (pattern on the English message, Vietnamese template using the pattern's groups)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^expected a number, got (?P<v>.*)$"), "cần một số, nhận được {v}"),
    (re.compile(r"^unknown lot (?P<v>.*)$"), "lô không tồn tại: {v}"),
    (re.compile(r"^unknown input lot (?P<v>.*)$"), "lô nguyên liệu không tồn tại: {v}"),
    (re.compile(r"^lot (?P<v>\S+) exists already$"), "lô {v} đã tồn tại"),
    (re.compile(r"^unknown product: (?P<v>.*)$"), "sản phẩm chưa đăng ký: {v}"),
    (re.compile(r"^wrong signer: (?P<v>.*)$"), "sai đơn vị ký: {v}"),
    (re.compile(r"^(?:.*: )?expected the lot id .*$"), "thiếu mã lô (GTIN-14.mã lô) của sự kiện"),
    (re.compile(r"^expected GeoJSON, got (?P<v>.*)$"), "cần GeoJSON, nhận được {v}"),
    (re.compile(r"^expected LOT:QUANTITY:UNIT .*, got (?P<v>.*)$"), "cần LÔ:SỐ LƯỢNG:ĐƠN VỊ cách nhau bởi |, nhận {v}"),
    (re.compile(r"^(?:.*: )?.*eventTime is in the future: (?P<v>.*)$"), "thời điểm sự kiện ở tương lai: {v}"),
    (re.compile(r"^(?P<f>[\w.:]+): (?P<m>.*timezone.*|.*offset.*)$"), "{f}: thời gian cần có múi giờ ({m})"),
    (
        re.compile(r"^(?:.*: )?(?P<n>GTIN|SSCC|GLN)\S* must be (?P<d>.*) digits, got (?P<v>.*)$"),
        "{n} phải có {d} chữ số, nhận {v}",
    ),
    (re.compile(r"^(?:.*: )?.*check digit.*$"), "sai chữ số kiểm tra của mã GS1 ({0})"),
]


def vietnamese(message: str) -> str:
    """The Vietnamese text of an English import error message."""
    for pattern, template in _PATTERNS:
        m = pattern.match(message)
        if m:
            return template.format(message, **m.groupdict())
    return f"dữ liệu không hợp lệ (chi tiết: {message})"


def error(row: int, column: str, message_en: str, message_vi: str | None = None) -> dict[str, Any]:
    """One error object, both languages; ``message`` is set by ``in_language``."""
    vi = message_vi or vietnamese(message_en)
    return {"row": row, "column": column, "message": vi, "message_vi": vi, "message_en": message_en}


def in_language(errors: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    key = "message_en" if lang == "en" else "message_vi"
    return [e | {"message": e[key]} for e in errors]


def summary(errors: list[dict[str, Any]], lang: str) -> str:
    first = errors[0]
    col = first["column"] or "-"
    if lang == "en":
        where = f"row {first['row']}, column {col}"
        return f"{len(errors)} error(s) in the CSV, nothing stored; first: {where}: {first['message_en']}"
    where = f"dòng {first['row']}, cột {col}"
    return f"{len(errors)} lỗi trong tệp CSV, không lưu gì; lỗi đầu tiên: {where}: {first['message_vi']}"
