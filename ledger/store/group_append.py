"""Many requests' submissions appended in one transaction, each request failing alone.

The sequencer (``ledger.sequencer``) hands ``append_requests`` the requests of one batch. They go
through the single append's own steps (``ledger.store.append``): one ``Batch`` locks the log head
and reads lots, facts and the Merkle frontier once; each request is then added on its own
(``Batch.add``: its lots created, each event authorized by ``ledger.core.policy`` with the
request's role, linked, signed and indexed). A request whose lot creation, authorization, chain
check or idempotency claim fails rolls back only itself (its rows, inside its own savepoint
``conn.begin_nested()`` when it writes any; its lots' in-memory heads and its indexes:
``Batch.rollback``), and the requests after it take the next indexes. All entries that remain
are written together (``Batch.finish``), so indexes stay gapless and unique. Every request was
validated on its own before it was queued (``ledger.store.submission.prevalidate``).

The ``Idempotency-Key`` record of each request is claimed and completed in its savepoint, in the
batch's transaction (``ledger.store.idempotency.claim_on``): it commits with the entries it guards.

A request that names the API key it came with (``Group.key_id``) is checked again here, in the
batch's transaction, with one query for the whole batch (``apikeys.unrevoked``): a key revoked
since the request was authenticated (the API caches verified keys) fails its request with
``Unauthenticated`` and stores nothing. The same query tells the organizations' kinds, which the
policy needs, so it costs the batch no extra round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ledger.errors import ConflictError, LedgerError, Unauthenticated
from ledger.store import apikeys
from ledger.store.append import Batch, FrontierCache, Submission, open_batch, prebuild, prefetch, recorded_json
from ledger.store.idempotency import Answer, Claim, claim_on
from ledger.store.keys import KeyRing
from ledger.store.log import NewEntry

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
    key_id: str | None = None


@dataclass
class GroupResult:
    """What one request got: its recorded entries and answer, a replayed answer, or an error."""

    recorded: list[dict[str, Any]] = field(default_factory=list)
    answer: Answer | None = None
    replayed: bool = False
    error: LedgerError | None = None


def append_requests(
    conn: Connection,
    groups: Sequence[Group],
    keyring: KeyRing,
    now: datetime,
    frontiers: FrontierCache | None = None,
    *,
    commit: bool = False,
    on_write: Callable[[Sequence[NewEntry], list[GroupResult]], None] | None = None,
) -> list[GroupResult]:
    """Append every group that passes its checks; one result per group, in order (see module doc).

    ``frontiers``: the appender's ``FrontierCache`` (the sequencer keeps one), saving a read per batch.
    With it, the requests that write no rows of their own are built and signed before the log head
    is locked (``ledger.store.append.prebuild``) and adopted under the lock if their lots' heads
    did not move; so several processes' batches overlap except for indexing, inserting and commit.
    Then what is read before the lock (keys, lots, signing keys) is read in one round trip
    (``prefetch``). ``commit``: commit with the batch's write (``Batch.finish``), which ends the
    caller's transaction. ``on_write(entries, results)`` is called right before that write is
    sent, with the entries it stores and the results it would return: until then the batch has only
    read, locked and written inside its open transaction, so a connection lost before it leaves
    nothing stored; one lost after it may have lost only the answer to a ``COMMIT`` that took
    effect, which the entries tell (what the sequencer's recovery relies on)."""
    key_ids = [g.key_id for g in groups if g.key_id is not None]
    fetched = None
    if frontiers is not None:
        fetched = prefetch(conn, key_ids, [s for g in groups for s in g.subs], keyring, now)
        keys = fetched.keys
    else:
        keys = apikeys.unrevoked(conn, key_ids)
    refused = [g.key_id is not None and keys.get(g.key_id, (None,))[0] != g.org_id for g in groups]
    live = [g for g, no in zip(groups, refused, strict=True) if not no]
    subs = [s for g in live for s in g.subs]
    pre = None
    if frontiers is not None:  # the sequencer: build what it can before the lock
        skip = [_writes_rows(g) for g in live]
        pre = prebuild(conn, [g.subs for g in live], keyring, now, dict(keys.values()), skip, fetched)
    batch = open_batch(conn, subs, keyring, now, frontiers, pre)
    for org_id, kind in keys.values():
        batch.facts.know(org_id, kind)
    results: list[GroupResult] = []
    position = 0
    for g, no in zip(groups, refused, strict=True):
        if no:
            results.append(GroupResult(error=Unauthenticated("invalid or revoked API key")))
            continue
        early = pre.entries.get(position) if pre is not None else None
        position += 1
        if early is not None and batch.adopt(early):
            recorded = [recorded_json(e) for e in early]
            results.append(GroupResult(recorded=recorded, answer=g.render(recorded) if g.render is not None else None))
        else:
            results.append(_append_one(batch, g))
    if on_write is not None:
        on_write(batch.entries, results)
    batch.finish(commit=commit)
    return results


def _append_one(batch: Batch, group: Group) -> GroupResult:
    mark = batch.mark(group.subs)
    try:
        with batch.conn.begin_nested() if _writes_rows(group) else nullcontext():
            return _append_group(batch, group)
    except (LedgerError, IntegrityError) as exc:
        batch.rollback(mark)
        if isinstance(exc, IntegrityError):
            exc = ConflictError("conflicting write: a record with the same identity was stored meanwhile")
        return GroupResult(error=exc)


def _writes_rows(group: Group) -> bool:
    """Whether the request writes rows of its own before the batch's entries (an idempotency record,
    a lot): only then does it need a savepoint. Server-signed events only read until the batch's one
    ``finish``, and their in-memory state is restored on failure (two round trips saved)."""
    return group.idem is not None or any(s.create is not None or s.entry is not None for s in group.subs)


def _append_group(batch: Batch, group: Group) -> GroupResult:
    claim: Claim | None = None
    if group.idem is not None:
        spec = group.idem
        claim = claim_on(batch.conn, group.org_id, spec.key, spec.fingerprint, batch.now, spec.retention)
        if claim.replay is not None:
            return GroupResult(answer=claim.replay, replayed=True)
    recorded = [recorded_json(e) for e in batch.add(group.subs)]
    answer = group.render(recorded) if group.render is not None else None
    if claim is not None and answer is not None:
        claim.complete(answer)
    return GroupResult(recorded=recorded, answer=answer)
