"""The append path: validate → canonicalize → link → sign → index → store, in one transaction.

``append`` runs inside the caller's write transaction. Everything that can be checked without
the database is checked first (``ledger.store.submission``), and all errors of a batch are
reported together; then the log head is locked, lots and keys are read, and each entry is
linked to its lot's head (and a transformation to every input lot's head), authorized by
``ledger.core.policy``, signed, given the next log index and stored. Any error rolls the whole
batch back: nothing is stored.

The steps are shared with the sequencer's group append (``ledger.store.group_append``), which
runs many requests through one ``Batch``: ``open_batch`` (lock the head, read lots, facts and
frontier once), ``Batch.add`` per request (create its lots, build its entries), ``Batch.mark`` /
``Batch.rollback`` to drop one failed request, and ``Batch.finish`` (write every entry at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select

from ledger.core import canonical, merkle, policy, signing
from ledger.core.events import format_record_time
from ledger.core.records import LotCreate, input_error, lot_fields_from_ilmd
from ledger.errors import ConflictError, InputError, LedgerError, SignatureError
from ledger.store import access, apikeys
from ledger.store import log as store
from ledger.store.db import Statement, driver_sql, driver_together, in_list, list_value
from ledger.store.keys import KeyRing
from ledger.store.models import Lot, Product, SigningKey
from ledger.store.submission import MAX_BATCH, Submission, check_size, parse_batch, prevalidate

__all__ = [
    "MAX_BATCH",
    "Batch",
    "FrontierCache",
    "Prebuilt",
    "Prefetched",
    "Submission",
    "append",
    "open_batch",
    "parse_batch",
    "prebuild",
    "prefetch",
    "presignable",
    "prevalidate",
    "recorded_json",
]
_lot = Lot.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]


@dataclass
class _LotState:
    org_id: int
    last_seq: int
    head: str | None


Mark = tuple[int, dict[str, tuple[int, str | None] | None]]


@dataclass
class Batch:
    """One write transaction's append state: the locked head, the lots read, the entries built."""

    conn: Connection
    now: datetime
    head: store.TreeHead
    frontier: merkle.Frontier
    lots: dict[str, _LotState]
    facts: access.Facts
    signers: _Signers
    entries: list[store.NewEntry] = field(default_factory=list)
    frontiers: FrontierCache | None = None

    def add(self, subs: Sequence[Submission]) -> list[store.NewEntry]:
        """Create the lots of ``subs`` and build their entries, taking the next log indexes."""
        _create_lots(self.conn, subs, self.lots, self.facts, self.now)
        start = len(self.entries)
        for sub in subs:
            idx = self.head.size + len(self.entries)
            pending = [e.event for e in self.entries] if sub.normalized.get("inputQuantityList") else []
            try:
                self.entries.append(_build(self.conn, sub, self.lots, self.facts, self.signers, self.now, idx, pending))
            except LedgerError as exc:
                raise _at(exc, sub) from exc
        return self.entries[start:]

    def mark(self, subs: Sequence[Submission]) -> Mark:
        """What ``rollback`` restores: the entries built so far and the heads of the lots ``subs`` touch."""
        ids = _lot_ids(subs)
        return len(self.entries), {k: (s.last_seq, s.head) if (s := self.lots.get(k)) else None for k in ids}

    def rollback(self, mark: Mark) -> None:
        """Forget what was added since ``mark`` (the caller rolls back its rows, e.g. a savepoint)."""
        start, heads = mark
        del self.entries[start:]
        for k, was in heads.items():
            if was is None:
                self.lots.pop(k, None)
            elif k in self.lots:
                self.lots[k].last_seq, self.lots[k].head = was

    def adopt(self, entries: Sequence[store.NewEntry]) -> bool:
        """Take entries built before the head was locked (``prebuild``) if they extend their lots'
        heads as they are now, giving them the next log indexes; False (nothing taken) if not."""
        heads: dict[str, tuple[int, str | None]] = {}
        for e in entries:
            state = self.lots.get(e.lot_id)
            if state is None or e.inputs:
                return False
            if heads.get(e.lot_id, (state.last_seq, state.head)) != (e.seq - 1, e.prev):
                return False
            heads[e.lot_id] = (e.seq, e.leaf_hash.hex())
        for e in entries:
            e.idx = self.head.size + len(self.entries)
            self.entries.append(e)
        for lot, (seq, head) in heads.items():
            self.lots[lot].last_seq, self.lots[lot].head = seq, head
        return True

    def finish(self, *, commit: bool = False) -> None:
        """Write every entry built, with its subtree hashes and the new head (``commit``: and commit,
        in the same round trip on PostgreSQL; see ``store.write_entries``)."""
        new = store.write_entries(self.conn, self.head, self.frontier, self.entries, commit=commit)
        if self.frontiers is not None:
            self.frontiers.keep(new, self.frontier)


class FrontierCache:
    """The Merkle frontier of the last head one appender wrote, so its next batch need not read it.

    ``load`` uses it only when the locked head has the same size and root (the root commits to
    every leaf, so the frontier is the same); otherwise, after another process's append or a
    rollback, it reads the frontier from the stored nodes. Used by one thread at a time.
    """

    def __init__(self) -> None:
        self._head: store.TreeHead | None = None
        self._nodes: list[bytes] = []
        self.contended = False
        """Whether another process had appended when this appender last took the lock: then its next
        batch sends the lots' and frontier's read with the lock (``store.lock_head_and_reload``)."""

    def load(self, conn: Connection, head: store.TreeHead) -> merkle.Frontier:
        if self._head is not None and self._head == head:
            return merkle.Frontier(head.size, list(self._nodes))
        return store.load_frontier(conn, head.size)

    def keep(self, head: store.TreeHead, frontier: merkle.Frontier) -> None:
        self._head, self._nodes = head, list(frontier.nodes)

    def wrote(self, head: store.TreeHead) -> bool:
        """Whether ``head`` is the one this appender wrote last (nobody appended since)."""
        return self._head is not None and self._head == head


@dataclass
class Prefetched:
    """What a batch reads before the log-head lock (``prefetch``)."""

    keys: dict[str, tuple[int, str]]  # the unrevoked API keys asked about: key id → (org id, org kind)
    lots: dict[str, _LotState]
    signers: _Signers


def prefetch(
    conn: Connection, key_ids: Sequence[str], subs: Sequence[Submission], keyring: KeyRing, now: datetime
) -> Prefetched:
    """Before the log-head lock, in one round trip (``db.driver_together``): which of the requests'
    API keys are unrevoked (``apikeys.unrevoked``), the lots ``subs`` name, and the active signing
    keys of the organizations whose events the server signs."""
    orgs = sorted({s.actor_org_id for s in subs if s.entry is None})
    asked: list[Statement | None] = [
        apikeys.unrevoked_statement(conn, key_ids),
        _lots_statement(conn, subs),
        keyring.active_signers_statement(conn, orgs) if orgs else None,
    ]
    rows = iter(driver_together(conn, [q for q in asked if q is not None]))
    keys, lots, signer_rows = (next(rows) if q is not None else [] for q in asked)
    signers = _Signers(keyring, now)
    signers.preload(keyring.active_signers_of(orgs, signer_rows))
    return Prefetched(apikeys.unrevoked_of(keys), _lot_states(lots), signers)


@dataclass
class Prebuilt:
    """Requests' entries built and signed before the log-head lock (see ``prebuild``)."""

    lots: dict[str, _LotState]  # as read before building
    facts: access.Facts
    signers: _Signers
    entries: dict[int, list[store.NewEntry]]  # request position → its entries


def presignable(subs: Sequence[Submission]) -> bool:
    """Server-signed events on existing lots, no transformation: built from the lots' heads alone."""
    return all(s.entry is None and s.create is None and not s.normalized.get("inputQuantityList") for s in subs)


def prebuild(
    conn: Connection,
    requests: Sequence[Sequence[Submission]],
    keyring: KeyRing,
    now: datetime,
    kinds: Mapping[int, str],
    skip: Sequence[bool] = (),
    fetched: Prefetched | None = None,
) -> Prebuilt:
    """Before the log-head lock: read the lots of every request and build (authorize, link, sign)
    the entries of the ``presignable`` ones, in order, from the lots' heads as read.

    Log indexes are not part of what is signed, so ``Batch.adopt`` can take these entries under the
    lock when their lots' heads have not moved meanwhile (another process appended to them): then
    the lock is held only to index, hash into the tree, insert and commit. A request whose entries
    are not adopted, or that failed here, is built again under the lock, where its error counts.
    ``skip[i]``: request ``i`` is only read for (e.g. it writes rows, which must wait for the lock).
    ``fetched``: the lots and signing keys as ``prefetch`` read them (for these requests or more)."""
    if fetched is None:
        lots, signers = _load_lots(conn, [s for r in requests for s in r]), _Signers(keyring, now)
    else:
        lots, signers = fetched.lots, fetched.signers
    read = {k: _LotState(v.org_id, v.last_seq, v.head) for k, v in lots.items()}
    facts = access.Facts(conn)
    for org_id, kind in kinds.items():
        facts.know(org_id, kind)
    pre = Batch(conn, now, store.TreeHead(0, merkle.EMPTY_ROOT), merkle.Frontier(), lots, facts, signers)
    built: dict[int, list[store.NewEntry]] = {}
    for i, subs in enumerate(requests):
        if (i < len(skip) and skip[i]) or not presignable(subs):
            continue
        mark = pre.mark(subs)
        try:
            built[i] = pre.add(subs)
        except LedgerError:
            pre.rollback(mark)
            continue
        if conn.dialect.name == "postgresql":  # their rows as the write takes them, outside the lock too
            for e in built[i]:
                store.entry_json(e)
    return Prebuilt(read, facts, signers, built)


def open_batch(
    conn: Connection,
    subs: Sequence[Submission],
    keyring: KeyRing,
    now: datetime,
    frontiers: FrontierCache | None = None,
    pre: Prebuilt | None = None,
) -> Batch:
    """Lock the log head and read, once, what the batch's ``subs`` need.

    With ``pre`` (read before the lock for the same ``subs``), the lots are read again only if
    somebody appended since this appender's last batch (``frontiers.wrote``)."""
    if frontiers is not None and frontiers.contended and conn.dialect.name == "postgresql":
        # another process appended before our last batch, so likely again: read with the lock
        head, rows, frontier = store.lock_head_and_reload(conn, sorted(_lot_ids(subs)))
        lots = _lot_states(rows)
    else:
        head = store.lock_head(conn, begin=frontiers is not None)
        if frontiers is not None and frontiers.wrote(head):  # nobody appended since: nothing to read again
            lots = (
                _load_lots(conn, subs)
                if pre is None
                else {k: _LotState(v.org_id, v.last_seq, v.head) for k, v in pre.lots.items()}
            )
            frontier = frontiers.load(conn, head)
        elif conn.dialect.name == "postgresql":  # both reads in one round trip, the lock held meanwhile
            rows, frontier = store.reload_locked(conn, sorted(_lot_ids(subs)), head)
            lots = _lot_states(rows)
        else:
            lots = _load_lots(conn, subs)
            frontier = store.load_frontier(conn, head.size)
    if frontiers is not None:
        frontiers.contended = not frontiers.wrote(head)
    facts, signers = (pre.facts, pre.signers) if pre is not None else (access.Facts(conn), _Signers(keyring, now))
    return Batch(conn, now, head, frontier, lots, facts, signers, frontiers=frontiers)


def append(conn: Connection, subs: Sequence[Submission], keyring: KeyRing, now: datetime) -> list[dict[str, Any]]:
    check_size(subs)
    prevalidate(subs, now)
    batch = open_batch(conn, subs, keyring, now)
    entries = batch.add(subs)
    batch.finish()
    return [recorded_json(e) for e in entries]


def recorded_json(e: store.NewEntry) -> dict[str, Any]:
    """What a writer is told about a stored entry."""
    return {
        "lot": e.lot_id,
        "seq": e.seq,
        "index": e.idx,
        "leaf_hash": e.leaf_hash.hex(),
        "signer": e.signer,
        "recordTime": e.event["recordTime"],
    }


def _at(exc: LedgerError, sub: Submission) -> LedgerError:
    """Name the batch item in the error: ``events.N`` in the message and ``details``."""
    where = f"events.{sub.index}"
    if isinstance(exc, InputError) and not exc.details:
        return type(exc)(
            f"{where}: {exc}",
            field=exc.field or where,
            details=[{"index": sub.index, "field": exc.field or where, "message": str(exc)}],
        )
    if isinstance(exc, policy.Denied) and not exc.details:
        named = policy.Denied(f"{where}: {exc}", actor=exc.actor, lot=exc.lot, step=exc.step, reason=exc.reason)
        named.details = [{"index": sub.index, "field": f"{where}.lot", "message": str(exc)}]
        return named
    return exc


def _lot_ids(subs: Sequence[Submission]) -> set[str]:
    ids = {s.lot for s in subs}
    for s in subs:
        ids |= {q["lot"] for q in s.normalized.get("inputQuantityList", []) if "lot" in q}
    return ids


def _load_lots(conn: Connection, subs: Sequence[Submission]) -> dict[str, _LotState]:
    return _lot_states(driver_sql(conn, *_lots_statement(conn, subs)))


def _lots_statement(conn: Connection, subs: Sequence[Submission]) -> Statement:
    sql = f"SELECT lot_id, org_id, last_seq, head_hash FROM lot WHERE lot_id {in_list(conn, 'ids')}"
    return sql, {"ids": list_value(conn, sorted(_lot_ids(subs)))}


def _lot_states(rows: Iterable[Any]) -> dict[str, _LotState]:
    return {r.lot_id: _LotState(r.org_id, r.last_seq, r.head_hash) for r in rows}


def _create_lots(
    conn: Connection, subs: Sequence[Submission], lots: dict[str, _LotState], facts: access.Facts, now: datetime
) -> None:
    for sub in subs:
        if sub.create is None and not _is_client_commissioning(sub, lots):
            continue
        try:
            _create_lot(conn, sub, lots, facts, now)
        except LedgerError as exc:
            if sub.create is not None:  # Ledger.create_lot: a single lot, no batch item to name
                raise
            raise _at(exc, sub) from exc  # a client-signed commissioning entry in a batch


def _create_lot(
    conn: Connection, sub: Submission, lots: dict[str, _LotState], facts: access.Facts, now: datetime
) -> None:
    lot = sub.create or _lot_from_ilmd(sub)
    if lot.lot_id != sub.lot:
        raise InputError(f"lot id does not match its GTIN and code: expected {lot.lot_id}, got {sub.lot}")
    if lot.lot_id in lots:
        raise ConflictError(f"lot {lot.lot_id} exists already", field="code")
    prod = conn.execute(select(_product.c.id, _product.c.org_id).where(_product.c.gtin == lot.gtin)).first()
    if prod is None:
        raise InputError(f"unknown product: no GTIN {lot.gtin} is registered", field="gtin")
    access.check_event(
        facts,
        actor=sub.actor_org_id,
        role=sub.role,
        lot=lot.lot_id,
        owner=int(prod.org_id),
        event=sub.normalized,
        owners={},
    )
    fields = lot.model_dump(exclude={"gtin", "event_time"})
    conn.execute(
        insert(_lot).values(
            lot_id=lot.lot_id,
            product_id=prod.id,
            org_id=sub.actor_org_id,
            created_at=now,
            last_seq=-1,
            head_hash=None,
            **fields,
        )
    )
    lots[lot.lot_id] = _LotState(sub.actor_org_id, -1, None)


def _is_client_commissioning(sub: Submission, lots: Mapping[str, _LotState]) -> bool:
    return sub.entry is not None and sub.lot not in lots and sub.normalized.get("bizStep") == "commissioning"


def _lot_from_ilmd(sub: Submission) -> LotCreate:
    fields = lot_fields_from_ilmd(sub.normalized.get("ilmd") or {})
    q = (sub.normalized.get("quantityList") or [{}])[0]
    try:
        return LotCreate.model_validate(
            {k: v for k, v in {**fields, "quantity": q.get("quantity"), "unit": q.get("uom")}.items() if v is not None}
        )
    except ValidationError as exc:
        raise input_error(exc, f"events.{sub.index}.entry.event.ilmd") from exc


def _build(
    conn: Connection,
    sub: Submission,
    lots: dict[str, _LotState],
    facts: access.Facts,
    signers: _Signers,
    now: datetime,
    idx: int,
    pending: Sequence[Mapping[str, Any]] = (),
) -> store.NewEntry:
    state = lots.get(sub.lot)
    if state is None:
        raise InputError(f"unknown lot {sub.lot!r}", field="lot")
    event = dict(sub.normalized)
    owners = {k: v.org_id for k, v in lots.items()}
    access.check_event(
        facts, actor=sub.actor_org_id, role=sub.role, lot=sub.lot, owner=state.org_id, event=event, owners=owners
    )
    inputs = _link_inputs(sub, event, lots)
    access.check_input_quantities(conn, event, pending)  # pending: this batch's entries, not stored yet
    if sub.entry is None:
        signer = signers.active(conn, sub.actor_org_id)
        event["recordTime"] = signers.record_time
        if inputs:
            event["ocop:inputs"] = inputs
        stmt = canonical.statement(
            lot=sub.lot, seq=state.last_seq + 1, prev=state.head, event=event, signer=signer.key_id
        )
        cs = canonical.CanonicalStatement(stmt)
        sig = signer.sign(cs.bytes)
    else:
        stmt, sig = _check_client_entry(conn, sub, state, inputs)
        cs = canonical.CanonicalStatement(stmt)
    leaf = merkle.leaf_hash(cs.entry_bytes(sig))
    state.last_seq, state.head = stmt["seq"], leaf.hex()
    return store.NewEntry(
        idx=idx,
        lot_id=sub.lot,
        seq=stmt["seq"],
        prev=stmt["prev"],
        event_json=cs.event_bytes.decode(),
        event=stmt["event"],
        signer=stmt["signer"],
        sig=sig,
        leaf_hash=leaf,
        recorded_at=now,
        inputs=tuple(i["lot"] for i in inputs),
    )


class _Signers:
    """The organizations' active server-held keys, looked up once per batch."""

    def __init__(self, keyring: KeyRing, now: datetime) -> None:
        self._keyring = keyring
        self._by_org: dict[int, signing.Signer | None] = {}
        self.record_time = format_record_time(now)

    def preload(self, found: Mapping[int, signing.Signer | None]) -> None:
        """Organizations' active keys read already (None: it has no server-held active key)."""
        self._by_org.update(found)

    def active(self, conn: Connection, org_id: int) -> signing.Signer:
        signer = self._by_org.get(org_id)
        if signer is None:
            found = self._keyring.active_signer(conn, org_id) if org_id not in self._by_org else None
            if found is None:
                raise InputError(
                    "wrong signer: the organization has no server-held active key; sign entries yourself "
                    "and send them as 'entry'",
                    field="entry",
                )
            signer = self._by_org[org_id] = found
        return signer


def _link_inputs(sub: Submission, event: dict[str, Any], lots: Mapping[str, _LotState]) -> list[dict[str, str]]:
    out = []
    for i, q in enumerate(event.get("inputQuantityList", [])):
        src = q.get("lot")
        if src is None:
            continue
        st = lots.get(src)
        if st is None or st.head is None:
            raise InputError(f"unknown input lot {src!r}", field=f"event.inputQuantityList.{i}.lot")
        if src == sub.lot:
            raise InputError(
                "a transformation cannot take its own output lot as input", field=f"event.inputQuantityList.{i}.lot"
            )
        out.append({"lot": src, "head": st.head})
    return out


def _check_client_entry(
    conn: Connection, sub: Submission, state: _LotState, inputs: list[dict[str, str]]
) -> tuple[dict[str, Any], str]:
    assert sub.entry is not None
    stmt, sig = canonical.split_entry(sub.entry)
    expect = {"lot": sub.lot, "seq": state.last_seq + 1, "prev": state.head}
    for name, want in expect.items():
        if stmt.get(name) != want:
            raise ConflictError(
                f"entry.{name} does not match the lot's head: expected {want!r}, got {stmt.get(name)!r}",
                field=f"entry.{name}",
            )
    if stmt["event"].get("ocop:inputs", []) != inputs:
        raise ConflictError(
            f"entry.event.ocop:inputs must name the input lots' heads: expected {inputs}",
            field="entry.event.ocop:inputs",
        )
    key = conn.execute(select(_key).where(_key.c.key_id == stmt.get("signer"))).first()
    if key is None or key.org_id != sub.actor_org_id or key.status != "active":
        raise InputError(
            f"wrong signer: {stmt.get('signer')!r} is not an active key of your organization", field="entry.signer"
        )
    try:
        signing.verify_signature(bytes(key.public_key), canonical.statement_bytes(stmt), sig)
    except SignatureError as exc:
        raise InputError(f"entry.sig: {exc}", field="entry.sig") from exc
    return stmt, sig
