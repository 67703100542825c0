"""What the console reads from the log about attestations and master data (issues 11 and 14).

Plain functions over a connection, used by ``ConsoleTools``: an authority's own attestations with
their current status, the number of attestations per authority, and a product's master data
versions. Whether an attestation vouches for anything is decided by ``ledger.attestations``
(signature and attribution checked against the log); these lists show what was written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger.core import masterdata
from ledger.errors import LedgerError
from ledger.store import v2log
from ledger.store.models import LogEntry

_entry = LogEntry.__table__  # type: ignore[attr-defined]


def _first_rows(conn: Connection, slug: str | None = None) -> list[Any]:
    """The first entry of each attestation (of ``slug``, or of every authority), newest first."""
    q = select(_entry.c.lot_id, _entry.c.idx, _entry.c.event_time).where(
        _entry.c.event_type == "attestation", _entry.c.seq == 0
    )
    if slug is not None:
        q = q.where(_entry.c.lot_id.like(f"attestation:{slug}:%"))
    return list(conn.execute(q.order_by(_entry.c.idx.desc())))


def attestations_by(conn: Connection, slug: str) -> list[dict[str, Any]]:
    """Every attestation the authority ``slug`` wrote, newest first, with its current status."""
    out = []
    for row in _first_rows(conn, slug):
        subject = str(row.lot_id)
        if subject.split(":")[1] != slug:
            continue
        try:
            body = masterdata.current(v2log.subject_entries(conn, subject))
        except (LedgerError, ValueError):
            body = {"about": {}, "claim": {}, "status": "unreadable"}
        out.append(
            {
                "subject": subject,
                "about": body["about"],
                "claim": body["claim"],
                "status": body["status"],
                "index": int(row.idx),
                "time": str(row.event_time)[:16].replace("T", " "),
            }
        )
    return out


def attestation_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Per authority slug: ``{"total", "active"}`` attestations written into the log."""
    counts: dict[str, dict[str, int]] = {}
    for row in _first_rows(conn):
        subject = str(row.lot_id)
        slug = subject.split(":")[1]
        c = counts.setdefault(slug, {"total": 0, "active": 0})
        c["total"] += 1
        try:
            c["active"] += masterdata.current(v2log.subject_entries(conn, subject))["status"] == "active"
        except (LedgerError, ValueError):
            pass  # an entry that does not read back vouches for nothing
    return counts


def product_versions(conn: Connection, gtin: str) -> list[dict[str, Any]]:
    """The product's master data versions from the log (``product:<gtin>``), newest first."""
    rows = v2log.subject_rows(conn, f"product:{gtin}")
    out = []
    for row in rows:
        body = v2log.entry_of(row)["body"]
        declared = body.get("declared") or {}
        out.append(
            {
                "version": int(row.seq) + 1,
                "index": int(row.idx),
                "time": str(row.event_time)[:16].replace("T", " "),
                "names": body.get("names") or {},
                "category": body.get("category"),
                "brand": body.get("brand"),
                "net_content": body.get("net_content"),
                "ocop_stars": declared.get("ocop_stars"),
                "ocop_year": declared.get("ocop_year"),
                "certifications": declared.get("certifications") or [],
                "migrated": bool(body.get("migrated")),
            }
        )
    return list(reversed(out))
