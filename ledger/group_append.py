"""Many requests' submissions appended in one transaction, each request failing alone.

The sequencer (``ledger.sequencer``) hands ``append_requests`` the requests of one batch. The
log head is locked once, lots and the Merkle frontier are read once, and each request is then
linked, signed and indexed on its own: a request whose lot creation, authorization, chain check or
idempotency claim fails rolls back only itself (its rows, inside its own savepoint
``conn.begin_nested()`` when it writes any; its lots' in-memory heads; its indexes), and the
requests after it take the next indexes. All entries that remain are written together, so indexes
stay gapless and unique. Every request was validated on its own before it was queued
(``ledger.ingest._prevalidate``).

The ``Idempotency-Key`` record of each request is claimed and completed in its savepoint, in the
batch's transaction (``ledger.idempotency.claim_on``): it commits with the entries it guards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ledger import store
from ledger.errors import ConflictError, LedgerError
from ledger.idempotency import Answer, Claim, claim_on
from ledger.ingest import Submission, _at, _build, _create_lots, _load_lots, _LotState, _Signers
from ledger.keys import KeyRing

Render = Callable[[list[dict[str, Any]]], Answer]


@dataclass(frozen=True)
class IdemSpec:
    """A request's ``Idempotency-Key``: the key, the request's fingerprint and how long to keep it."""

    key: str
    fingerprint: str
    retention: timedelta


@dataclass
class Group:
    """One request's submissions, prevalidated; ``render`` turns its recorded entries into the answer."""

    org_id: int
    subs: list[Submission]
    idem: IdemSpec | None = None
    render: Render | None = None


@dataclass
class GroupResult:
    """What one request got: its recorded entries and answer, a replayed answer, or an error."""

    recorded: list[dict[str, Any]] = field(default_factory=list)
    answer: Answer | None = None
    replayed: bool = False
    error: LedgerError | None = None


@dataclass
class _Batch:
    conn: Connection
    keyring: KeyRing
    now: datetime
    base: int
    lots: dict[str, _LotState]
    signers: _Signers
    kinds: dict[int, str] = field(default_factory=dict)
    entries: list[store.NewEntry] = field(default_factory=list)


def append_requests(conn: Connection, groups: Sequence[Group], keyring: KeyRing, now: datetime) -> list[GroupResult]:
    """Append every group that passes its checks; one result per group, in order (see module doc)."""
    head = store.lock_head(conn)
    lots = _load_lots(conn, [s for g in groups for s in g.subs])
    frontier = store.load_frontier(conn, head.size)
    batch = _Batch(conn, keyring, now, head.size, lots, _Signers(keyring, now))
    results = [_append_one(batch, g) for g in groups]
    store.write_entries(conn, head, frontier, batch.entries)
    return results


def _append_one(batch: _Batch, group: Group) -> GroupResult:
    saved = _snapshot(batch.lots, group.subs)
    start = len(batch.entries)
    try:
        with batch.conn.begin_nested() if _writes_rows(group) else nullcontext():
            return _append_in_savepoint(batch, group, start)
    except (LedgerError, IntegrityError) as exc:
        del batch.entries[start:]
        _restore(batch.lots, saved)
        if isinstance(exc, IntegrityError):
            exc = ConflictError("conflicting write: a record with the same identity was stored meanwhile")
        return GroupResult(error=exc)


def _writes_rows(group: Group) -> bool:
    """Whether the request writes rows of its own before the batch's entries (an idempotency record,
    a lot): only then does it need a savepoint. Server-signed events only read until the batch's one
    ``write_entries``, and their in-memory state is restored on failure (two round trips saved)."""
    return group.idem is not None or any(s.create is not None or s.entry is not None for s in group.subs)


def _append_in_savepoint(batch: _Batch, group: Group, start: int) -> GroupResult:
    claim: Claim | None = None
    if group.idem is not None:
        spec = group.idem
        claim = claim_on(batch.conn, group.org_id, spec.key, spec.fingerprint, batch.now, spec.retention)
        if claim.replay is not None:
            return GroupResult(answer=claim.replay, replayed=True)
    _create_lots(batch.conn, group.subs, batch.lots, batch.now)
    for sub in group.subs:
        idx = batch.base + len(batch.entries)
        try:
            batch.entries.append(_build(batch.conn, sub, batch.lots, batch.kinds, batch.signers, batch.now, idx))
        except LedgerError as exc:
            raise _at(exc, sub) from exc
    recorded = [recorded_json(e) for e in batch.entries[start:]]
    answer = group.render(recorded) if group.render is not None else None
    if claim is not None and answer is not None:
        claim.complete(answer)
    return GroupResult(recorded=recorded, answer=answer)


def recorded_json(e: store.NewEntry) -> dict[str, Any]:
    """What a writer is told about a stored entry (as ``ledger.ingest.append`` reports it)."""
    return {
        "lot": e.lot_id,
        "seq": e.seq,
        "index": e.idx,
        "leaf_hash": e.leaf_hash.hex(),
        "signer": e.signer,
        "recordTime": e.event["recordTime"],
    }


def _lot_ids(subs: Sequence[Submission]) -> set[str]:
    ids = {s.lot for s in subs}
    for s in subs:
        ids |= {q["lot"] for q in s.normalized.get("inputQuantityList", []) if "lot" in q}
    return ids


def _snapshot(lots: dict[str, _LotState], subs: Sequence[Submission]) -> dict[str, tuple[int, str | None] | None]:
    return {k: (lots[k].last_seq, lots[k].head) if k in lots else None for k in _lot_ids(subs)}


def _restore(lots: dict[str, _LotState], saved: dict[str, tuple[int, str | None] | None]) -> None:
    for k, was in saved.items():
        if was is None:
            lots.pop(k, None)
        elif k in lots:
            lots[k].last_seq, lots[k].head = was
