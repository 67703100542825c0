"""Stored poison: events an old ledger may hold, put in the store the two ways a ledger gets them.

- ``appended``: through ``Ledger.record``, as a client did before the append path refused such
  strings; where the append path refuses them now, the case is skipped (``legacy`` still runs);
- ``legacy``: a harmless event is recorded, then its stored row is rewritten in the database to
  hold the poison, as a ledger written by an older release (or altered on disk) would. Its
  signature no longer matches, so verification says ``tampered``: the exports must still work.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ledger.core import canonical
from ledger.errors import InputError
from ledger.service import Ledger
from ledger.store.models import LogEntry

MODES = ["appended", "legacy"]
_entry = LogEntry.__table__  # type: ignore[attr-defined]


def event(
    lot: str, step: str = "ocop:cooling", time: str = "2026-07-05T10:00:00+07:00", **extra: Any
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": step,
        "eventTime": time,
        "quantityList": [{"lot": lot, "quantity": 800, "uom": "KGM"}],
    }
    return ev | extra


def store(ledger: Ledger, mode: str, org: str, lot: str, ev: dict[str, Any]) -> int:
    """Put ``ev`` on ``lot`` the ``mode`` way; the log index of the stored entry."""
    if mode == "appended":
        try:
            return int(ledger.record(org, [{"lot": lot, "event": ev}])[0]["index"])
        except InputError as exc:
            pytest.skip(f"the append path refuses this now ({exc}); the legacy case covers the export")
    index = int(ledger.record(org, [{"lot": lot, "event": event(lot)}])[0]["index"])
    with ledger.engine.begin() as conn:
        row = conn.execute(_entry.select().where(_entry.c.idx == index)).one()
        stored = canonical.from_canonical(str(row.event).encode()) | ev
        columns = {"event_time": ev["eventTime"], "biz_step": ev["bizStep"], "event_type": ev["type"]}
        text = canonical.canonicalize(stored).decode()
        conn.execute(update(_entry).where(_entry.c.idx == index).values(event=text, **columns))
    return index
