"""Idempotent writes: a resend with the same ``Idempotency-Key`` gets the first answer, stores nothing.

``claim`` opens the write transaction, binds it (``ledger.store.db.bound``) so that every write run
inside it (the append path, master data, API keys) joins it, looks the key up and, if the key is
new, inserts its record. The caller runs the write, then ``Claim.complete`` stores the answer in
the same record; the transaction commits the write and the record together. A server killed
after that commit but before it answered leaves the record behind: the client's retry gets the
first answer back and nothing is stored twice. If the write fails, both roll back.

Keys are scoped by organization (the API key's), bounded (1-255 characters of ``KEY_CHARS``) and
kept for a retention period (``Settings.idempotency_retention_hours``, 24 h by default); expired
records are deleted by the next claim. The same key with another request (method, path, query or
body) is refused (``IdempotencyMismatch``, 422); a duplicate still in flight gets ``ConflictError``
(409): in this process from a registry of keys in flight, across processes on PostgreSQL from a
transaction-scoped advisory lock on the key. On SQLite writers are serialized by ``BEGIN
IMMEDIATE``, so a duplicate from another process waits for the first and then gets its answer.

A group committer (several requests' entries in one transaction) stays compatible: it runs each
request's ``claim_on`` and ``Claim.complete`` on the connection that stores that request's entries.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from ledger.errors import ConflictError, InputError
from ledger.store.db import bound, is_sqlite, write_tx
from ledger.store.models import IdempotencyRecord

_record = IdempotencyRecord.__table__  # type: ignore[attr-defined]
MAX_KEY = 255
KEY_CHARS = "letters, digits and - _ . : ~ + / ="
_KEY = re.compile(r"[A-Za-z0-9\-_.:~+/=]{1,255}")
_in_flight: set[tuple[int, str]] = set()
_in_flight_lock = threading.Lock()


class IdempotencyMismatch(InputError):
    """The key was used before for a different request (IETF draft: 422)."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Answer:
    """A stored answer: replayed byte for byte."""

    status_code: int
    content_type: str | None
    body: bytes


@dataclass
class Claim:
    """A claimed key: ``replay`` holds the first answer when there was one, else the write runs."""

    org_id: int
    key: str
    replay: Answer | None
    conn: Connection | None = None
    _record_id: int | None = None

    def complete(self, answer: Answer) -> None:
        """Store the write's answer in the record, inside the write's transaction."""
        if self.conn is None or self._record_id is None:
            raise RuntimeError("complete() needs a claimed key that has no stored answer yet")
        self.conn.execute(
            update(_record)
            .where(_record.c.id == self._record_id)
            .values(status_code=answer.status_code, content_type=answer.content_type, body=answer.body)
        )


def parse_key(value: str) -> str:
    """The key from the header: a token, or an RFC 8941 sf-string (in double quotes)."""
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        shown = key if len(key) <= 40 else key[:40] + "…"
        raise InputError(
            f"Idempotency-Key: expected 1 to {MAX_KEY} characters of {KEY_CHARS}, got {len(key)} character(s) "
            f"{shown!r}",
            field="Idempotency-Key",
        )
    return key


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same": method, path, query string and body bytes."""
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        h.update(len(part).to_bytes(8, "big") + part)
    h.update(body)
    return h.hexdigest()


@contextmanager
def claim(engine: Engine, org_id: int, key: str, fp: str, now: datetime, retention: timedelta) -> Iterator[Claim]:
    """Claim ``key`` for ``org_id`` and yield inside the bound write transaction (see module doc)."""
    with _local_flight(org_id, key), write_tx(engine) as conn:
        if not is_sqlite(engine):
            _advisory_lock(conn, org_id, key)
        found = claim_on(conn, org_id, key, fp, now, retention)
        if found.replay is not None:
            yield found
            return
        with bound(engine, conn):
            yield found


def claim_on(conn: Connection, org_id: int, key: str, fp: str, now: datetime, retention: timedelta) -> Claim:
    """The statements of a claim on any write connection (e.g. a group committer's): the stored
    answer to replay, or a new record that ``Claim.complete`` fills in the same transaction."""
    conn.execute(delete(_record).where(_record.c.expires_at < now))
    found = conn.execute(select(_record).where(_record.c.org_id == org_id, _record.c.key == key)).first()
    if found is not None:
        return Claim(org_id, key, _replay(found, fp, key))
    rid = conn.execute(
        insert(_record)
        .values(
            org_id=org_id,
            key=key,
            fingerprint=fp,
            status_code=0,
            body=b"",
            created_at=now,
            expires_at=now + retention,
        )
        .returning(_record.c.id)
    ).scalar_one()
    return Claim(org_id, key, None, conn, int(rid))


def _replay(row: Any, fp: str, key: str) -> Answer:
    if row.fingerprint != fp:
        raise IdempotencyMismatch(
            f"Idempotency-Key {key!r} was used for a different request: expected the same method, path, query "
            "and body as its first use, got different ones; use a new key for a new request",
            field="Idempotency-Key",
        )
    return Answer(int(row.status_code), row.content_type, bytes(row.body))


@contextmanager
def _local_flight(org_id: int, key: str) -> Iterator[None]:
    with _in_flight_lock:
        if (org_id, key) in _in_flight:
            raise _in_flight_error(key)
        _in_flight.add((org_id, key))
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight.discard((org_id, key))


def _advisory_lock(conn: Connection, org_id: int, key: str) -> None:
    """Another replica's transaction holding the key's lock is a duplicate in flight."""
    digest = hashlib.sha256(f"idempotency:{org_id}:{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_id}).scalar_one():
        raise _in_flight_error(key)


def _in_flight_error(key: str) -> ConflictError:
    return ConflictError(
        f"a request with Idempotency-Key {key!r} is still in flight: expected it to finish first; "
        "retry once it has answered",
        field="Idempotency-Key",
    )
