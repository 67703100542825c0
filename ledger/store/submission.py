"""What an append is asked to store: submissions, parsed and checked before the database is touched.

``parse_batch`` turns a request's items into ``Submission``s (every malformed item reported at
once, with its index); ``prevalidate`` normalizes each event (server-signed, client-signed or a
lot's commissioning) and reports every error of the batch together. Both run outside any
transaction: the single append (``ledger.store.append``) and the sequencer (``ledger.sequencer``)
call them before locking or queuing anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledger.core import canonical
from ledger.core.events import normalize_event
from ledger.core.records import LotCreate, lot_ilmd
from ledger.errors import InputError

CLOCK_SKEW = timedelta(minutes=5)
MAX_BATCH = 5000


@dataclass
class Submission:
    """One event to append: server-signed (``event``), client-signed (``entry``) or a new lot."""

    lot: str
    actor_org_id: int
    event: dict[str, Any] | None = None
    role: str | None = None  # the API key's role; None when the organization acts itself (CLI)
    entry: dict[str, Any] | None = None
    create: LotCreate | None = None
    index: int = 0
    normalized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: Any, index: int, actor_org_id: int, role: str | None = None) -> Submission:
        where = f"events.{index}"
        if not isinstance(item, Mapping):
            raise InputError(f"{where} must be an object with 'lot' and 'event' or 'entry'", field=where)
        extra = set(item) - {"lot", "event", "entry"}
        if extra:
            raise InputError(f"{where} has unknown fields {sorted(extra)}", field=where)
        lot = item.get("lot")
        if not isinstance(lot, str) or not lot:
            raise InputError(f"{where}.lot: expected a lot id like 08930000045676.PH-2026-07", field=f"{where}.lot")
        if ("event" in item) == ("entry" in item):
            raise InputError(
                f"{where}: give exactly one of 'event' (server signs) or 'entry' (you signed)", field=where
            )
        return cls(
            lot=lot, actor_org_id=actor_org_id, event=item.get("event"), entry=item.get("entry"), index=index, role=role
        )


def parse_batch(items: Sequence[Any], actor_org_id: int, role: str | None = None) -> list[Submission]:
    """The submissions of a batch; every malformed item is reported at once, with its index."""
    subs: list[Submission] = []
    errors: list[dict[str, object]] = []
    for i, item in enumerate(items):
        try:
            subs.append(Submission.from_json(item, i, actor_org_id, role))
        except InputError as exc:
            errors.append({"index": i, "field": exc.field or f"events.{i}", "message": str(exc)})
    if errors:
        first = errors[0]
        raise InputError(
            f"{len(errors)} invalid event(s); first: {first['message']}", field=str(first["field"]), details=errors
        )
    return subs


def check_size(subs: Sequence[object]) -> None:
    """A batch holds at most ``MAX_BATCH`` events."""
    if len(subs) > MAX_BATCH:
        raise InputError(f"batch too large: expected at most {MAX_BATCH} events, got {len(subs)}", field="events")


def prevalidate(subs: Sequence[Submission], now: datetime) -> None:
    """Check every event's shape before touching the database; report all errors at once."""
    errors: list[dict[str, object]] = []
    for sub in subs:
        where = f"events.{sub.index}"
        try:
            if sub.create is not None:
                sub.normalized = _commissioning(sub.create, now)
            elif sub.event is not None:
                sub.normalized = normalize_event(sub.event, now=now, where=f"{where}.event")
            else:
                sub.normalized = _client_event(sub, now)
        except InputError as exc:
            errors.extend({"index": sub.index, **d} for d in exc.details) if exc.details else errors.append(
                {"index": sub.index, "field": exc.field or where, "message": str(exc)}
            )
    if errors:
        first = errors[0]
        raise InputError(
            f"{len(errors)} invalid event(s); first: {first['message']}", field=str(first.get("field")), details=errors
        )


def _commissioning(lot: LotCreate, now: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "eventTime": lot.event_time or now.isoformat(timespec="seconds"),
        "ilmd": lot_ilmd(lot),
    }
    if lot.quantity is not None:
        event["quantityList"] = [{"lot": lot.lot_id, "quantity": lot.quantity, "uom": lot.unit}]
    return normalize_event(event, now=now, where="lot")


def _client_event(sub: Submission, now: datetime) -> dict[str, Any]:
    ent = sub.entry
    where = f"events.{sub.index}.entry"
    if not isinstance(ent, Mapping) or set(ent) != canonical.ENTRY_KEYS:
        got = sorted(ent) if isinstance(ent, Mapping) else type(ent).__name__
        raise InputError(f"{where} must have exactly {sorted(canonical.ENTRY_KEYS)}, got {got}", field=where)
    event = ent["event"]
    if not isinstance(event, Mapping):
        raise InputError(f"{where}.event must be an object", field=f"{where}.event")
    core = {k: v for k, v in event.items() if k not in ("recordTime", "ocop:inputs")}
    normalized = normalize_event(core, now=now, where=f"{where}.event")
    if canonical.canonicalize(normalized) != canonical.canonicalize(core):
        raise InputError(f"{where}.event is not in normalized form: expected {normalized}", field=f"{where}.event")
    rt = event.get("recordTime")
    try:
        recorded = datetime.fromisoformat(str(rt).replace("Z", "+00:00"))
        skew = abs(recorded - now)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"{where}.event.recordTime must be a UTC timestamp, got {rt!r}", field=f"{where}.event.recordTime"
        ) from exc
    if skew > CLOCK_SKEW:
        raise InputError(
            f"{where}.event.recordTime is {skew} away from the ledger's clock (max {CLOCK_SKEW})",
            field=f"{where}.event.recordTime",
        )
    return dict(event)
