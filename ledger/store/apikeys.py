"""API keys: per organization, one role each, shown once, stored only as a SHA-256 hash.

A token looks like ``ocop_ak_3f9c2a1b7d4e_<43 base64url characters>``: the public handle
(``ak_3f9c2a1b7d4e``, safe to log and list) followed by 256 random bits. The database keeps the
hex SHA-256 of the whole token; a token is looked up by that hash, so comparing secrets never
happens in Python. Revocation takes effect on the next request.

Roles:

- ``producer``  registers its organization's products and lots and records any event on them
- ``inspector`` records inspection events (``ledger.core.policy.FOREIGN_STEPS["inspector"]``) on any lot
- ``exporter``  records shipping-type events (``FOREIGN_STEPS["exporter"]``) on any lot
- ``admin``     manages organizations, API keys and anchoring; records nothing
- ``authority`` records and revokes its own organization's attestations (``POST /api/v1/attestations``),
  signed by the authority's key; records no events

A role must suit the organization's kind, since the ledger signs with the organization's key
and verification checks what that kind may sign (``ledger.core.policy.may_sign``). Which event a key
may record is decided in the append path by ``ledger.core.policy.authorize_event``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger.core import bounds
from ledger.errors import ConflictError, InputError, NotFound
from ledger.store.db import Statement, driver_sql, in_list, list_value
from ledger.store.models import ApiKey, Organization

_api_key = ApiKey.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]

ROLES = ("producer", "inspector", "exporter", "admin", "authority")
ROLE_KINDS: dict[str, frozenset[str]] = {
    "producer": frozenset({"cooperative", "company", "exporter"}),
    "inspector": frozenset({"inspector"}),
    "exporter": frozenset({"exporter"}),
    "admin": frozenset({"operator"}),
    "authority": frozenset({"authority"}),
}
DEFAULT_KIND = {
    "producer": "cooperative",
    "inspector": "inspector",
    "exporter": "exporter",
    "admin": "operator",
    "authority": "authority",
}
TOKEN_PREFIX = "ocop_"
_MAX_TOKEN = 200


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's handle, organization and role."""

    key_id: str
    org_id: int
    org_slug: str
    org_kind: str
    role: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str, org_kind: str) -> None:
    """Raise ``InputError`` unless ``role`` exists and suits an organization of ``org_kind``."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    if org_kind not in ROLE_KINDS[role]:
        raise InputError(
            f"role {role} needs an organization of kind {' or '.join(sorted(ROLE_KINDS[role]))}, got {org_kind}",
            field="role",
        )


def create(
    conn: Connection, org_id: int, role: str, label: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A new API key for ``org_id``; the result holds the token, which is never shown again."""
    org = conn.execute(select(_org.c.kind).where(_org.c.id == org_id)).first()
    if org is None:
        raise NotFound(f"no organization {org_id}")
    check_role(role, str(org.kind))
    if label is not None:
        bounds.check_text(label, "label")
    if label is not None and len(label) > 100:
        raise InputError(f"label is too long: expected at most 100 characters, got {len(label)}", field="label")
    key_id = "ak_" + secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(_api_key).values(
            key_id=key_id,
            token_hash=hash_token(token),
            org_id=org_id,
            role=role,
            label=label,
            created_at=now or datetime.now(UTC),
        )
    )
    return {**describe(conn, key_id), "token": token}


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN:
        return None
    row = conn.execute(
        select(_api_key.c.key_id, _api_key.c.role, _api_key.c.revoked_at, _org.c.id, _org.c.slug, _org.c.kind)
        .join(_org, _org.c.id == _api_key.c.org_id)
        .where(_api_key.c.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.key_id, int(row.id), str(row.slug), str(row.kind), str(row.role))


def unrevoked(conn: Connection, key_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Of ``key_ids``, the keys not revoked: key id → (organization id, organization kind).

    The sequencer asks this once per batch, so a key revoked after its request was authenticated
    (from a cache, or in another process) gets nothing acknowledged."""
    stmt = unrevoked_statement(conn, key_ids)
    return {} if stmt is None else unrevoked_of(driver_sql(conn, *stmt))


def unrevoked_statement(conn: Connection, key_ids: Iterable[str]) -> Statement | None:
    """``unrevoked``'s query (None for no keys), to send with others (``db.driver_together``)."""
    ids = sorted(set(key_ids))
    if not ids:
        return None
    sql = (
        "SELECT k.key_id, o.id, o.kind FROM api_key k JOIN organization o ON o.id = k.org_id"
        f" WHERE k.key_id {in_list(conn, 'ids')} AND k.revoked_at IS NULL"
    )
    return sql, {"ids": list_value(conn, ids)}


def unrevoked_of(rows: Iterable[Any]) -> dict[str, tuple[int, str]]:
    """``unrevoked``'s answer from its query's rows."""
    return {str(r.key_id): (int(r.id), str(r.kind)) for r in rows}


def revoke(conn: Connection, key_id: str, now: datetime | None = None) -> dict[str, Any]:
    info = describe(conn, key_id)
    if info["revoked_at"] is not None:
        raise ConflictError(f"API key {key_id} is already revoked (since {info['revoked_at']})")
    conn.execute(update(_api_key).where(_api_key.c.key_id == key_id).values(revoked_at=now or datetime.now(UTC)))
    return describe(conn, key_id)


def describe(conn: Connection, key_id: str) -> dict[str, Any]:
    """Public facts about an API key: never the token or its hash."""
    row = conn.execute(select(_api_key).where(_api_key.c.key_id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    return _info(row)


def list_keys(conn: Connection, org_id: int | None = None) -> list[dict[str, Any]]:
    q = select(_api_key).order_by(_api_key.c.id)
    if org_id is not None:
        q = q.where(_api_key.c.org_id == org_id)
    return [_info(r) for r in conn.execute(q)]


def _info(row: Any) -> dict[str, Any]:
    return {
        "key_id": row.key_id,
        "org_id": row.org_id,
        "role": row.role,
        "label": row.label,
        "created_at": _iso(row.created_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
