"""Page sizes and page tokens of the EPCIS 2.0 REST bindings' collections (pure).

A collection (``/epcis/bizSteps``, ``/epcis/epcs``, …) is paged by offset; its ``nextPageToken``
is an opaque, versioned text this server issued. An event query binds its token to the query
instead (``ledger.exports.epcis_query.EventQuery.page_token``).
"""

from __future__ import annotations

import base64

from ledger.errors import QueryError

PER_PAGE_DEFAULT, PER_PAGE_MAX = 30, 500


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"d1.{offset}".encode()).decode().rstrip("=")


def page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        version, offset = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(".")
        if version == "d1" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise QueryError(f"nextPageToken: not a token this server issued: {token[:40]!r}", field="nextPageToken")
