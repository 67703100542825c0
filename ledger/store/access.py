"""The facts ``ledger.core.policy`` decides on, read from the store inside the append transaction.

The append path (``ledger.store.append``) calls ``check_event`` for every event and ``check_product``
for every product registration; this module only reads (organization kinds, who packed a lot
into a shipment, whether an input lot's owner released it, GS1 company prefixes) and hands plain
values to the pure policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from ledger.core import canonical, policy
from ledger.errors import ConflictError, InputError
from ledger.store.models import LogEntry, Lot, LotLink, Organization, SigningKey

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_link = LotLink.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]


class Facts:
    """Organization kinds, read once per batch."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._kinds: dict[int, str] = {}

    def know(self, org_id: int, kind: str) -> None:
        """Record a kind read elsewhere in the same transaction (saves its query)."""
        self._kinds[org_id] = kind

    def kind(self, org_id: int) -> str:
        if org_id not in self._kinds:
            self._kinds[org_id] = str(self.conn.execute(select(_org.c.kind).where(_org.c.id == org_id)).scalar_one())
        return self._kinds[org_id]


def check_event(
    facts: Facts,
    *,
    actor: int,
    role: str | None,
    lot: str,
    owner: int,
    event: Mapping[str, Any],
    owners: Mapping[str, int],
) -> None:
    """Ask the policy whether ``actor`` may record ``event`` on ``lot`` (owned by ``owner``)."""
    step = str(event.get("bizStep"))
    foreign = owner != actor
    inputs = [
        policy.InputLot(src, owners[src], released=_released(facts.conn, src, owners[src]))
        for src in _input_lots(event)
        if src in owners and owners[src] != actor
    ]
    packed = _packed_by(facts.conn, lot, event.get("parentID")) if foreign and step == "unpacking" else None
    req = policy.EventRequest(
        actor=actor,
        kind=facts.kind(actor),
        role=role,
        lot=lot,
        owner=owner,
        step=step,
        event_type=str(event.get("type")),
        packed_by=packed,
        inputs=inputs,
    )
    policy.authorize_event(req)


def _input_lots(event: Mapping[str, Any]) -> list[str]:
    return [str(q["lot"]) for q in event.get("inputQuantityList", []) if isinstance(q, Mapping) and "lot" in q]


def _signer_org(conn: Connection, key_id: str) -> int | None:
    row = conn.execute(select(_key.c.org_id).where(_key.c.key_id == key_id)).first()
    return None if row is None else int(row.org_id)


def _packed_by(conn: Connection, lot: str, parent: Any) -> int | None:
    """The organization that signed the newest ADD of ``lot`` into the logistic unit ``parent``."""
    q = (
        select(_entry.c.event, _entry.c.signer)
        .where(_entry.c.lot_id == lot, _entry.c.event_type == "AggregationEvent")
        .order_by(_entry.c.idx.desc())
    )
    for row in conn.execute(q):
        ev = canonical.from_canonical(str(row.event).encode())
        if ev.get("parentID") == parent and ev.get("action") == "ADD":
            return _signer_org(conn, str(row.signer))
    return None


def _released(conn: Connection, lot: str, owner: int) -> bool:
    """Whether the lot's owner signed a ``shipping`` event on it (its consent to hand it on)."""
    q = (
        select(_entry.c.idx)
        .join(_key, _key.c.key_id == _entry.c.signer)
        .where(_entry.c.lot_id == lot, _entry.c.biz_step == "shipping", _key.c.org_id == owner)
        .limit(1)
    )
    return conn.execute(q).first() is not None


def check_input_quantities(
    conn: Connection, event: Mapping[str, Any], pending: Sequence[Mapping[str, Any]] = ()
) -> None:
    """A transformation consumes at most an input lot's declared quantity (when the units match).

    ``pending`` are the events built earlier in the same transaction but not stored yet (a batch's
    entries are written together at its end): what they consume counts as consumed already."""
    wanted: dict[tuple[str, str], float] = {}
    for q in event.get("inputQuantityList", []):
        if isinstance(q, Mapping) and "lot" in q and isinstance(q.get("quantity"), int | float):
            k = (str(q["lot"]), str(q.get("uom")))
            wanted[k] = wanted.get(k, 0.0) + float(q["quantity"])
    for (lot, uom), qty in wanted.items():
        row = conn.execute(select(_lot.c.quantity, _lot.c.unit).where(_lot.c.lot_id == lot)).first()
        if row is None or row.quantity is None or row.unit != uom:
            continue
        used = _consumed(conn, lot, uom) + sum(_uses(ev, lot, uom) for ev in pending)
        if used + qty <= float(row.quantity):
            continue
        raise InputError(
            f"input lot {lot} holds {row.quantity:g} {uom}, {used:g} of it consumed already: "
            f"expected a quantity of at most {float(row.quantity) - used:g}, got {qty:g}",
            field="event.inputQuantityList",
        )


def _consumed(conn: Connection, lot: str, uom: str) -> float:
    """How much of ``lot`` (in ``uom``) stored transformations consumed already."""
    q = select(_entry.c.event).join(_link, _link.c.entry_idx == _entry.c.idx).where(_link.c.input_lot == lot)
    return sum(_uses(canonical.from_canonical(str(row.event).encode()), lot, uom) for row in conn.execute(q))


def _uses(event: Mapping[str, Any], lot: str, uom: str) -> float:
    """How much of ``lot`` (in ``uom``) one event consumes."""
    total = 0.0
    for item in event.get("inputQuantityList", []):
        if item.get("lot") == lot and item.get("uom") == uom and isinstance(item.get("quantity"), int | float):
            total += float(item["quantity"])
    return total


def org_prefixes(conn: Connection) -> dict[int, list[str]]:
    """Every organization's GS1 company prefixes."""
    rows = conn.execute(select(_org.c.id, _org.c.gs1_prefixes))
    return {int(r.id): list(r.gs1_prefixes or []) for r in rows}


def check_product(conn: Connection, actor: int, gtin: str) -> None:
    """Ask the policy whether ``actor`` may register a product with ``gtin``."""
    policy.authorize_product(actor, gtin, org_prefixes(conn))


def set_prefixes(conn: Connection, org_id: int, prefixes: Sequence[str]) -> None:
    """Give ``org_id`` these GS1 company prefixes; 409 if one overlaps another organization's."""
    wanted = sorted(set(prefixes))
    for other, theirs in org_prefixes(conn).items():
        clash = [
            f"{p} / {t}" for p in wanted for t in theirs if other != org_id and (p.startswith(t) or t.startswith(p))
        ]
        if clash:
            raise ConflictError(
                f"GS1 company prefix overlaps organization {other}'s: expected no overlap, got {clash[0]}",
                field="gs1_prefixes",
            )
    conn.execute(update(_org).where(_org.c.id == org_id).values(gs1_prefixes=wanted))
