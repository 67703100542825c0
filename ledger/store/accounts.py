"""People, sessions, invitations and sign-in lockout for the web console (issue 14).

- A person signs in with an e-mail address or a phone number (``normalize_login``: e-mails are
  lower-cased, Vietnamese numbers become ``+84…``) and a password hashed with argon2id
  (argon2-cffi). A wrong password counts against the person; after ``MAX_FAILURES`` in a row the
  account is locked for ``LOCKOUT``, and a correct password is refused while it lasts.
- A session is a random token in an HttpOnly cookie; only its SHA-256 is stored, with an expiry
  and the session's CSRF token.
- An invitation is a one-time link token (only its SHA-256 is stored), valid for ``INVITE_TTL``.

Nothing here knows HTTP: the console's routes reach these functions through ``ledger.service.console``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, insert, select, update

from ledger.errors import ConflictError, InputError, NotFound
from ledger.store.account_models import ConsoleSession, Invite, Person
from ledger.store.models import Organization

_person = Person.__table__  # type: ignore[attr-defined]
_session = ConsoleSession.__table__  # type: ignore[attr-defined]
_invite = Invite.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]

ROLES = ("owner", "member")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(days=14)
INVITE_TTL = timedelta(days=7)
MIN_PASSWORD, MAX_PASSWORD = 8, 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
_PHONE_DIGITS = re.compile(r"^\+?\d{9,15}$")


@dataclass(frozen=True)
class Account:
    """A signed-in person and their organization."""

    person_id: int
    login: str
    name: str | None
    role: str
    org_id: int
    org_slug: str
    org_name: str
    org_kind: str
    csrf: str = ""


class SignInRefused(InputError):
    """Wrong login or password (the message never says which)."""

    code = "sign_in_failed"


class AccountLocked(InputError):
    """Too many wrong passwords in a row: sign-in is refused until ``until``."""

    code = "account_locked"

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message, field="password")
        self.until = until


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_login(raw: str) -> str:
    """An e-mail address (lower-cased) or a phone number (``0912 345 678`` -> ``+84912345678``)."""
    value = raw.strip()
    if "@" in value:
        value = value.lower()
        if not _EMAIL.match(value):
            raise InputError(f"expected an e-mail address like ten@vi-du.vn, got {raw!r}", field="login")
        return value
    digits = re.sub(r"[\s.\-()]", "", value)
    if not _PHONE_DIGITS.match(digits):
        raise InputError(f"expected an e-mail address or a phone number like 0912 345 678, got {raw!r}", field="login")
    if digits.startswith("0"):
        digits = "+84" + digits[1:]
    elif not digits.startswith("+"):
        digits = "+" + digits
    return digits


def check_password(password: str, login: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(
            f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {len(password)}", field="password"
        )
    if password.strip().lower() == login.lower():
        raise InputError("password must differ from the login", field="password")


def _aware(t: datetime | None) -> datetime | None:
    return None if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC))


# --- people ---------------------------------------------------------------------------------


def create_person(
    conn: Connection,
    hasher: PasswordHasher,
    org_id: int,
    login: str,
    password: str,
    role: str,
    name: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new person of ``org_id``; the login must be new."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    login = normalize_login(login)
    check_password(password, login)
    if name is not None and len(name) > 200:
        raise InputError(f"name is too long: expected at most 200 characters, got {len(name)}", field="name")
    if conn.execute(select(_org.c.id).where(_org.c.id == org_id)).first() is None:
        raise NotFound(f"no organization {org_id}")
    if conn.execute(select(_person.c.id).where(_person.c.login == login)).first():
        raise ConflictError(f"an account with login {login} exists already", field="login")
    pid = conn.execute(
        insert(_person)
        .values(
            org_id=org_id,
            login=login,
            name=name or None,
            role=role,
            password_hash=hasher.hash(password),
            failed_logins=0,
            created_at=now,
            password_changed_at=now,
        )
        .returning(_person.c.id)
    ).scalar_one()
    return describe(conn, int(pid))


def describe(conn: Connection, person_id: int) -> dict[str, Any]:
    row = conn.execute(_people_query().where(_person.c.id == person_id)).first()
    if row is None:
        raise NotFound(f"no person {person_id}")
    return _info(row)


def list_people(conn: Connection, org_id: int | None = None) -> list[dict[str, Any]]:
    q = _people_query().order_by(_person.c.id)
    if org_id is not None:
        q = q.where(_person.c.org_id == org_id)
    return [_info(r) for r in conn.execute(q)]


def _people_query() -> Any:
    return select(_person, _org.c.slug.label("org_slug"), _org.c.name.label("org_name")).join(
        _org, _org.c.id == _person.c.org_id
    )


def _info(row: Any) -> dict[str, Any]:
    locked = _aware(row.locked_until)
    return {
        "id": int(row.id),
        "login": row.login,
        "name": row.name,
        "role": row.role,
        "org_id": int(row.org_id),
        "org_slug": row.org_slug,
        "org_name": row.org_name,
        "locked_until": locked.isoformat() if locked else None,
    }


def person_id_by_login(conn: Connection, login: str) -> int:
    row = conn.execute(select(_person.c.id).where(_person.c.login == normalize_login(login))).first()
    if row is None:
        raise NotFound(f"no account with login {login!r}")
    return int(row.id)


def set_password(conn: Connection, hasher: PasswordHasher, person_id: int, password: str, now: datetime) -> None:
    """A new password (an admin's reset): unlocks the account and ends its sessions."""
    login = describe(conn, person_id)["login"]
    check_password(password, login)
    conn.execute(
        update(_person)
        .where(_person.c.id == person_id)
        .values(password_hash=hasher.hash(password), failed_logins=0, locked_until=None, password_changed_at=now)
    )
    conn.execute(delete(_session).where(_session.c.person_id == person_id))


# --- sign-in and sessions -------------------------------------------------------------------


def verify_sign_in(conn: Connection, hasher: PasswordHasher, login: str, password: str, now: datetime) -> int:
    """The person's id if the password is right and the account is not locked; counts failures."""
    try:
        login = normalize_login(login)
    except InputError:
        login = ""
    row = conn.execute(select(_person).where(_person.c.login == login)).first() if login else None
    if row is None:
        _burn(hasher, password)  # same work as a real check: no timing hint that the login is unknown
        raise SignInRefused("wrong login or password", field="password")
    locked = _aware(row.locked_until)
    if locked is not None and locked > now:
        raise AccountLocked(
            f"account locked after {MAX_FAILURES} wrong passwords until {locked.isoformat()}", until=locked
        )
    if not _matches(hasher, str(row.password_hash), password):
        failures = int(row.failed_logins) + 1
        lock = now + LOCKOUT if failures >= MAX_FAILURES else None
        conn.execute(
            update(_person)
            .where(_person.c.id == row.id)
            .values(failed_logins=0 if lock else failures, locked_until=lock)
        )
        if lock is not None:
            raise AccountLocked(
                f"account locked after {MAX_FAILURES} wrong passwords until {lock.isoformat()}", until=lock
            )
        raise SignInRefused("wrong login or password", field="password")
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if hasher.check_needs_rehash(str(row.password_hash)):
        values["password_hash"] = hasher.hash(password)
    conn.execute(update(_person).where(_person.c.id == row.id).values(**values))
    return int(row.id)


def _matches(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return bool(hasher.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _burn(hasher: PasswordHasher, password: str) -> None:
    _matches(hasher, _DUMMY.setdefault(id(hasher), hasher.hash("not a password")), password)


_DUMMY: dict[int, str] = {}


def open_session(conn: Connection, person_id: int, now: datetime) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token). Expired sessions of the person are removed."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    conn.execute(delete(_session).where(_session.c.person_id == person_id, _session.c.expires_at < now))
    conn.execute(
        insert(_session).values(
            token_hash=token_hash(token), person_id=person_id, csrf=csrf, created_at=now, expires_at=now + SESSION_TTL
        )
    )
    return token, csrf


def session_account(conn: Connection, token: str, now: datetime) -> Account | None:
    """The account of a live session token, or None."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        select(_session.c.csrf, _session.c.expires_at, _person, _org.c.slug, _org.c.name.label("org_name"), _org.c.kind)
        .join(_person, _person.c.id == _session.c.person_id)
        .join(_org, _org.c.id == _person.c.org_id)
        .where(_session.c.token_hash == token_hash(token))
    ).first()
    expires = _aware(row.expires_at) if row is not None else None
    if row is None or expires is None or expires <= now:
        return None
    return Account(
        int(row.id), row.login, row.name, row.role, int(row.org_id), row.slug, row.org_name, row.kind, row.csrf
    )


def close_session(conn: Connection, token: str) -> None:
    conn.execute(delete(_session).where(_session.c.token_hash == token_hash(token)))


# --- invitations ----------------------------------------------------------------------------


def create_invite(conn: Connection, org_id: int, role: str, created_by: int | None, now: datetime) -> str:
    """A one-time invitation token for ``org_id`` (shown once)."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    token = secrets.token_urlsafe(24)
    conn.execute(
        insert(_invite).values(
            token_hash=token_hash(token),
            org_id=org_id,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=now + INVITE_TTL,
        )
    )
    return token


def invite_info(conn: Connection, token: str, now: datetime) -> dict[str, Any]:
    """The organization and role of a usable invitation; ``NotFound`` if unknown, used or expired."""
    row = conn.execute(
        select(_invite, _org.c.name.label("org_name"))
        .join(_org, _org.c.id == _invite.c.org_id)
        .where(_invite.c.token_hash == token_hash(token[:100]))
    ).first()
    expires = _aware(row.expires_at) if row is not None else None
    if row is None or row.used_at is not None or expires is None or expires <= now:
        raise NotFound("this invitation link is unknown, used already or expired")
    return {"id": int(row.id), "org_id": int(row.org_id), "org_name": row.org_name, "role": row.role}


def use_invite(conn: Connection, invite_id: int, now: datetime) -> None:
    done = conn.execute(
        update(_invite).where(_invite.c.id == invite_id, _invite.c.used_at.is_(None)).values(used_at=now)
    )
    if done.rowcount != 1:
        raise ConflictError("this invitation link was used meanwhile")
