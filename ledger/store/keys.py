"""Organization signing keys: generation, registration, rotation, revocation, the master key.

The service may hold an organization's private key, sealed under the master key
(``ledger.core.signing``), or only know the public key of a key the organization keeps itself.
Rotation retires the active key (its entries stay valid; it signs nothing new). Revocation sets
an effective time: entries recorded after it fail verification, earlier ones stay valid.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.core import signing
from ledger.errors import ConfigError, ConflictError, InputError, NotFound
from ledger.store.db import Statement, driver_sql, in_list, list_value
from ledger.store.models import Meta, SigningKey

_key = SigningKey.__table__  # type: ignore[attr-defined]
_meta = Meta.__table__  # type: ignore[attr-defined]
FINGERPRINT = "master_key_fingerprint"


def load_master_key(value: str | None, key_file: Path, *, create: bool) -> bytes:
    """The master key from a base64 setting or the key file (created on a fresh ledger)."""
    if value:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("LEDGER_MASTER_KEY is not valid base64") from exc
    elif key_file.exists():
        try:
            raw = base64.b64decode(key_file.read_text().strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"master key file {key_file} is not valid base64") from exc
    elif create:
        raw = os.urandom(signing.MASTER_KEY_SIZE)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(raw).decode() + "\n")
    else:
        raise ConfigError(f"master key missing: set LEDGER_MASTER_KEY or restore the key file {key_file}")
    if len(raw) != signing.MASTER_KEY_SIZE:
        raise ConfigError(f"master key has wrong length: expected {signing.MASTER_KEY_SIZE} bytes, got {len(raw)}")
    return raw


def check_master_key(conn: Connection, master_key: bytes) -> None:
    """Bind the ledger to its master key on first use; refuse a different key afterwards."""
    got = signing.master_key_fingerprint(master_key)
    row = conn.execute(select(_meta.c.value).where(_meta.c.key == FINGERPRINT)).first()
    if row is None:
        conn.execute(insert(_meta).values(key=FINGERPRINT, value=got))
    elif row.value != got:
        raise ConfigError(f"the master key is wrong for this ledger: expected fingerprint {row.value}, got {got}")


def ledger_has_fingerprint(conn: Connection) -> bool:
    return conn.execute(select(_meta.c.key).where(_meta.c.key == FINGERPRINT)).first() is not None


class KeyRing:
    """Key operations on an open connection, with the master key passed in."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._signers: dict[str, signing.Signer] = {}

    def generate(self, conn: Connection, org_id: int, now: datetime | None = None) -> dict[str, Any]:
        """A new server-held key for ``org_id``; it becomes the organization's active key."""
        priv = signing.generate_private_key()
        pub = signing.public_key(priv)
        kid = signing.key_id(pub)
        sealed = signing.seal_private_key(self._master, priv, kid)
        return self._insert(conn, org_id, pub, sealed, now)

    def register(
        self, conn: Connection, org_id: int, public_key_b64: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Register a public key the organization holds itself (client-side signing)."""
        pub = signing.decode_b64(public_key_b64, "public key")
        signing.load_public_key(pub)
        return self._insert(conn, org_id, pub, None, now)

    def _insert(
        self, conn: Connection, org_id: int, pub: bytes, sealed: bytes | None, now: datetime | None
    ) -> dict[str, Any]:
        kid = signing.key_id(pub)
        if conn.execute(select(_key.c.id).where(_key.c.key_id == kid)).first():
            raise ConflictError(f"key {kid} is already registered")
        now = now or datetime.now(UTC)
        conn.execute(
            update(_key)
            .where(_key.c.org_id == org_id, _key.c.status == "active")
            .values(status="retired", retired_at=now)
        )
        conn.execute(
            insert(_key).values(
                key_id=kid,
                org_id=org_id,
                public_key=pub,
                sealed_private_key=sealed,
                status="active",
                created_at=now,
            )
        )
        return self.describe(conn, kid)

    def revoke(self, conn: Connection, kid: str, effective: datetime, reason: str | None = None) -> dict[str, Any]:
        """Revoke ``kid`` from ``effective`` on: entries recorded after it no longer verify."""
        if effective.tzinfo is None:
            raise InputError("revocation time needs a timezone offset", field="effective")
        row = self._row(conn, kid)
        if row.status == "revoked":
            raise ConflictError(f"key {kid} is already revoked (since {row.revoked_at})")
        conn.execute(
            update(_key)
            .where(_key.c.key_id == kid)
            .values(status="revoked", revoked_at=effective, revocation_reason=reason)
        )
        self._signers.pop(kid, None)
        return self.describe(conn, kid)

    def active_signer(self, conn: Connection, org_id: int) -> signing.Signer | None:
        """The organization's active server-held key, or None if it signs for itself."""
        sql = "SELECT key_id, sealed_private_key FROM signing_key WHERE org_id = :org AND status = 'active'"
        return self._active(driver_sql(conn, sql, {"org": org_id}).first())

    @staticmethod
    def active_signers_statement(conn: Connection, org_ids: Iterable[int]) -> Statement:
        """The query for ``active_signers_of``: the active keys of several organizations at once."""
        sql = (
            "SELECT org_id, key_id, sealed_private_key FROM signing_key"
            f" WHERE org_id {in_list(conn, 'orgs')} AND status = 'active'"
        )
        return sql, {"orgs": list_value(conn, sorted(set(org_ids)))}

    def active_signers_of(self, org_ids: Iterable[int], rows: Iterable[Any]) -> dict[int, signing.Signer | None]:
        """``active_signer`` of each of ``org_ids``, from the rows of ``active_signers_statement``."""
        first: dict[int, Any] = {}
        for r in rows:
            first.setdefault(int(r.org_id), r)
        return {org: self._active(first.get(org)) for org in org_ids}

    def _active(self, row: Any) -> signing.Signer | None:
        if row is None or row.sealed_private_key is None:
            return None
        signer = self._signers.get(row.key_id)
        if signer is None:
            priv = signing.open_private_key(self._master, bytes(row.sealed_private_key), row.key_id)
            signer = self._signers[row.key_id] = signing.Signer(priv)
        return signer

    def signer_of(self, row: Any) -> signing.Signer:
        """The signer of a server-held key's row (``sealed_private_key`` set)."""
        priv = signing.open_private_key(self._master, bytes(row.sealed_private_key), row.key_id)
        return signing.Signer(priv)

    def log_signer(self, conn: Connection) -> signing.Signer:
        """The operator's log key (format v2 entries), generated and sealed on first use."""
        from ledger.store import v2log

        return v2log.log_signer(conn, self._master)

    def check_can_open(self, conn: Connection) -> None:
        """Decrypt one sealed key, so a wrong master key fails at start, not mid-request."""
        row = conn.execute(
            select(_key.c.key_id, _key.c.sealed_private_key).where(_key.c.sealed_private_key.is_not(None)).limit(1)
        ).first()
        if row is not None:
            signing.open_private_key(self._master, bytes(row.sealed_private_key), row.key_id)

    @staticmethod
    def _row(conn: Connection, kid: str) -> Any:
        row = conn.execute(select(_key).where(_key.c.key_id == kid)).first()
        if row is None:
            raise NotFound(f"no key {kid}")
        return row

    @classmethod
    def describe(cls, conn: Connection, kid: str) -> dict[str, Any]:
        """Public facts about a key: never its private part."""
        return public_key_info(cls._row(conn, kid))


def public_key_info(row: Any) -> dict[str, Any]:
    return {
        "key_id": row.key_id,
        "org_id": row.org_id,
        "public_key": base64.b64encode(bytes(row.public_key)).decode(),
        "held_by": "server" if row.sealed_private_key is not None else "organization",
        "status": row.status,
        "created_at": _iso(row.created_at),
        "retired_at": _iso(row.retired_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


def keys_by_id(conn: Connection, kids: set[str]) -> dict[str, Any]:
    if not kids:
        return {}
    return {r.key_id: r for r in conn.execute(select(_key).where(_key.c.key_id.in_(sorted(kids))))}
