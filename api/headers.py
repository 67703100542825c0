"""Response headers built from user data, in one place.

``attachment`` writes ``Content-Disposition`` as RFC 6266 with RFC 5987 ``filename*``: a lot code may
hold ``"``, ``;``, ``%``, ``/`` or non-ASCII letters, which must never break the header.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(filename: str) -> dict[str, str]:
    """``{"Content-Disposition": ...}`` for a download named ``filename`` (any text)."""
    fallback = _UNSAFE.sub("_", filename).strip("._") or "download"
    encoded = quote(filename, safe="")
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"}
