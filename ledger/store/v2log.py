"""Format v2 entries in the log: the operator's log key, appending and reading back (``ledger.core.statements``).

A v2 entry is stored in ``log_entry`` like an event, in the one global log: ``lot_id`` holds its
subject (``org:<slug>``, ``key:<key id>``, ``product:<gtin>``, ``attestation:<slug>:<n>``),
``event`` the canonical body, ``event_type`` the kind, ``biz_step`` the key action or ``v<seq>``,
``event_time`` the record time, and ``pop`` a key registration's proof of possession.
Appends take the log-head lock first, as the event append path does, so indexes stay gapless.

The log key is generated on first use, sealed under the master key like organizations' keys and
kept in ``ledger_meta`` (``log_key``: ``<key id> <base64 sealed private key>``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.core import canonical, masterdata, merkle, signing, statements
from ledger.errors import ConfigError, InputError, SignatureError
from ledger.store import log as store
from ledger.store.models import LogEntry, Meta

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_meta = Meta.__table__  # type: ignore[attr-defined]
LOG_KEY = "log_key"


def utc_text(t: datetime) -> str:
    """A time as the RFC 3339 UTC text v2 bodies use: ``2026-07-01T00:00:00Z``, or with ``.123456``
    microseconds when it has any."""
    t = (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def log_signer(conn: Connection, master_key: bytes) -> signing.Signer:
    """The operator's log key, generated and sealed on first use."""
    row = conn.execute(select(_meta.c.value).where(_meta.c.key == LOG_KEY)).first()
    if row is None:
        priv = signing.generate_private_key()
        pub = signing.public_key(priv)
        kid = signing.key_id(pub)
        sealed = base64.b64encode(signing.seal_private_key(master_key, priv, kid)).decode()
        conn.execute(insert(_meta).values(key=LOG_KEY, value=f"{kid} {_b64(pub)} {sealed}"))
        return signing.Signer(priv)
    kid, _, sealed = str(row.value).split(" ")
    try:
        priv = signing.open_private_key(master_key, base64.b64decode(sealed), kid)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the log key cannot be opened with this master key: {exc}") from exc
    return signing.Signer(priv)


def log_public_key(conn: Connection) -> tuple[str, bytes] | None:
    """(key id, raw public key) of the log key, without the master key; None before it exists."""
    row = conn.execute(select(_meta.c.value).where(_meta.c.key == LOG_KEY)).first()
    if row is None:
        return None
    kid, pub, _ = str(row.value).split(" ")
    return kid, base64.b64decode(pub)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def is_v2(row: Any) -> bool:
    """A stored row is a format v2 entry (its ``event_type`` is a v2 kind, never an EPCIS event type)."""
    return str(row.event_type) in statements.KINDS


def entry_of(row: Any) -> dict[str, Any]:
    """The v2 entry a stored row holds."""
    stmt = {
        "v": statements.STATEMENT_V2,
        "kind": str(row.event_type),
        "subject": str(row.lot_id),
        "seq": int(row.seq),
        "prev": row.prev,
        "body": canonical.from_canonical(str(row.event).encode()),
        "signer": str(row.signer),
    }
    return statements.entry(stmt, str(row.sig), row.pop)


def entry_total(conn: Connection) -> int:
    return store.read_head(conn).size


def subject_rows(conn: Connection, subject: str) -> list[Any]:
    return list(conn.execute(select(_entry).where(_entry.c.lot_id == subject).order_by(_entry.c.seq)))


def subject_entries(conn: Connection, subject: str) -> list[dict[str, Any]]:
    """A subject's v2 entries in seq order (empty if it has none)."""
    return [entry_of(r) for r in subject_rows(conn, subject)]


def indexed_entries(conn: Connection, subject: str) -> list[tuple[int, dict[str, Any]]]:
    """(log index, entry) of a subject's v2 entries."""
    return [(int(r.idx), entry_of(r)) for r in subject_rows(conn, subject)]


def append(
    conn: Connection,
    *,
    kind: str,
    ident: str,
    body: Mapping[str, Any],
    signer: signing.Signer,
    now: datetime,
    pop_signer: signing.Signer | None = None,
    pop: str | None = None,
) -> dict[str, Any]:
    """Append the next entry of ``kind:ident`` signed by ``signer`` (and its proof of possession)."""
    body = masterdata.validate_body(kind, body)
    subject = statements.subject_of(kind, ident)
    head = store.lock_head(conn)
    last = conn.execute(
        select(_entry.c.seq, _entry.c.leaf_hash).where(_entry.c.lot_id == subject).order_by(_entry.c.seq.desc())
    ).first()
    seq, prev = (0, None) if last is None else (int(last.seq) + 1, bytes(last.leaf_hash).hex())
    stmt = statements.statement(kind=kind, subject=subject, seq=seq, prev=prev, body=body, signer=signer.key_id)
    ent = statements.sign(stmt, signer, pop_signer) if pop is None else _with_pop(stmt, signer, pop)
    leaf = merkle.leaf_hash(statements.entry_bytes(ent))
    step = str(body.get("action") or f"v{seq}")
    new = store.NewEntry(
        idx=head.size, lot_id=subject, seq=seq, prev=prev, event_json=canonical.canonicalize(body).decode(),
        event={"type": kind, "bizStep": step, "eventTime": utc_text(now)}, signer=signer.key_id,
        sig=ent["sig"], leaf_hash=leaf, recorded_at=now,
    )  # fmt: skip
    store.write_entries(conn, head, store.load_frontier(conn, head.size), [new])
    if ent.get("pop") is not None:
        conn.execute(update(_entry).where(_entry.c.idx == head.size).values(pop=ent["pop"]))
    return {"index": head.size, "subject": subject, "seq": seq, "leaf_hash": leaf.hex(), "entry": ent}


def _with_pop(stmt: Mapping[str, Any], signer: signing.Signer, pop: str) -> dict[str, Any]:
    """Sign a key registration whose proof of possession the key's holder made (client-held keys)."""
    ent = statements.entry(stmt, signer.sign(statements.statement_bytes(stmt)), pop)
    try:
        statements.verify_entry(ent, signer.public_key)
    except (InputError, SignatureError, ValueError) as exc:
        raise InputError(
            f"proof of possession does not verify: expected the key's signature over the registration "
            f"statement, got {pop!r} ({exc})",
            field="pop",
        ) from exc
    return ent
