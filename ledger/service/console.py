"""The web console's door to the ledger (issue 14): accounts, sessions, photos, console writes.

``Console`` wraps a ``Ledger`` (the same facade the API and the CLI use: products, lots and events
go through ``Ledger``'s methods and the one append path) and adds what only the console needs.
The app factory builds it from the ``Ledger`` and the data folder; routes in ``api/console``
reach storage only through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from argon2 import PasswordHasher
from sqlalchemy import func, insert, select

from ledger.errors import ConflictError, InputError, NotFound, PermissionDenied
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import accounts, apikeys
from ledger.store import log as store
from ledger.store.account_models import ConsoleSubmission
from ledger.store.accounts import Account, AccountLocked, SignInRefused
from ledger.store.apikeys import Principal
from ledger.store.append import append, parse_batch
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry, Lot, Product
from ledger.store.photos import PhotoStore, PhotoTampered, open_photo_store

__all__ = [
    "Account",
    "AccountLocked",
    "Console",
    "PhotoStore",
    "PhotoTampered",
    "Principal",
    "SignInRefused",
    "SignedIn",
    "open_photo_store",
]

_lot = Lot.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_entry = LogEntry.__table__  # type: ignore[attr-defined]
_submission = ConsoleSubmission.__table__  # type: ignore[attr-defined]

# The API role a console account acts with, from its organization's kind (same rules as API keys).
KIND_ROLE = {
    "cooperative": "producer",
    "company": "producer",
    "exporter": "exporter",
    "inspector": "inspector",
    "operator": "admin",
    "authority": "authority",  # attests (ConsoleTools.attest_as, or POST /api/v1/attestations) and records no events
}


@dataclass(frozen=True)
class SignedIn:
    token: str
    csrf: str
    account: Account


class Console:
    def __init__(self, ledger: Ledger, photos: PhotoStore, hasher: PasswordHasher | None = None) -> None:
        self.ledger = ledger
        self.photos = photos
        self.hasher = hasher or PasswordHasher()

    @property
    def _now(self) -> Any:
        return self.ledger.clock()

    # --- people and sessions --------------------------------------------------------------

    def create_account(
        self, org: str | int, login: str, password: str, role: str = "member", name: str | None = None
    ) -> dict[str, Any]:
        with write_tx(self.ledger.engine) as conn:
            org_id = self.ledger._org_id(conn, org)
            return accounts.create_person(conn, self.hasher, org_id, login, password, role, name, self._now)

    def sign_in(self, login: str, password: str) -> SignedIn:
        """A new session for a right password; ``SignInRefused`` or ``AccountLocked`` otherwise.

        Failures are committed even though an error is raised: the count must survive the refusal."""
        error: Exception | None = None
        with write_tx(self.ledger.engine) as conn:
            try:
                pid = accounts.verify_sign_in(conn, self.hasher, login, password, self._now)
            except (SignInRefused, AccountLocked) as exc:
                error = exc
            else:
                token, csrf = accounts.open_session(conn, pid, self._now)
        if error is not None:
            raise error
        account = self.account(token)
        assert account is not None
        return SignedIn(token, csrf, account)

    def account(self, token: str) -> Account | None:
        with read_tx(self.ledger.engine) as conn:
            return accounts.session_account(conn, token, self._now)

    def sign_out(self, token: str) -> None:
        with write_tx(self.ledger.engine) as conn:
            accounts.close_session(conn, token)

    def reset_password(self, login: str, password: str) -> dict[str, Any]:
        """An administrator sets a new password: the account is unlocked and signed out everywhere."""
        with write_tx(self.ledger.engine) as conn:
            pid = accounts.person_id_by_login(conn, login)
            accounts.set_password(conn, self.hasher, pid, password, self._now)
            return accounts.describe(conn, pid)

    def people(self, org_id: int | None = None) -> list[dict[str, Any]]:
        with read_tx(self.ledger.engine) as conn:
            return accounts.list_people(conn, org_id)

    def invite(self, who: Account, role: str) -> str:
        """A one-time invitation token to ``who``'s organization; owners only."""
        self.require_owner(who)
        with write_tx(self.ledger.engine) as conn:
            return accounts.create_invite(conn, who.org_id, role, who.person_id, self._now)

    def invite_for(self, org: str | int, role: str) -> str:
        """An invitation made by an operator (CLI), for any organization."""
        with write_tx(self.ledger.engine) as conn:
            return accounts.create_invite(conn, self.ledger._org_id(conn, org), role, None, self._now)

    def invite_info(self, token: str) -> dict[str, Any]:
        with read_tx(self.ledger.engine) as conn:
            return accounts.invite_info(conn, token, self._now)

    def accept_invite(self, token: str, login: str, password: str, name: str | None) -> SignedIn:
        with write_tx(self.ledger.engine) as conn:
            inv = accounts.invite_info(conn, token, self._now)
            person = accounts.create_person(
                conn, self.hasher, inv["org_id"], login, password, inv["role"], name, self._now
            )
            accounts.use_invite(conn, inv["id"], self._now)
            session, csrf = accounts.open_session(conn, int(person["id"]), self._now)
        account = self.account(session)
        assert account is not None
        return SignedIn(session, csrf, account)

    @staticmethod
    def require_owner(who: Account) -> None:
        if who.role != "owner":
            raise PermissionDenied(f"only an owner of {who.org_name} may do this; your role is {who.role}")

    @staticmethod
    def principal(who: Account) -> Principal:
        """The account as a caller of the ledger, with the same role an API key of its organization has."""
        return Principal(f"person:{who.person_id}", who.org_id, who.org_slug, who.org_kind, KIND_ROLE[who.org_kind])

    # --- API keys of the account's organization ---------------------------------------------

    def api_keys(self, who: Account) -> list[dict[str, Any]]:
        with read_tx(self.ledger.engine) as conn:
            return apikeys.list_keys(conn, who.org_id)

    def create_api_key(self, who: Account, role: str, label: str | None) -> dict[str, Any]:
        self.require_owner(who)
        with write_tx(self.ledger.engine) as conn:
            return apikeys.create(conn, who.org_id, role, label or None, self._now)

    def revoke_api_key(self, who: Account, key_id: str) -> dict[str, Any]:
        self.require_owner(who)
        with write_tx(self.ledger.engine) as conn:
            if apikeys.describe(conn, key_id[:24])["org_id"] != who.org_id:
                raise NotFound(f"no API key {key_id[:24]!r} in {who.org_name}")
            return apikeys.revoke(conn, key_id[:24], self._now)

    # --- products, lots, events -----------------------------------------------------------

    def products(self, org_id: int) -> list[dict[str, Any]]:
        with read_tx(self.ledger.engine) as conn:
            rows = conn.execute(select(_product).where(_product.c.org_id == org_id).order_by(_product.c.id.desc()))
            return [dict(r._mapping) for r in rows]

    def lots(self, org_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The organization's newest lots, each with its product's Vietnamese name."""
        with read_tx(self.ledger.engine) as conn:
            rows = conn.execute(
                select(_lot, _product.c.name_vi, _product.c.name_en)
                .join(_product, _product.c.id == _lot.c.product_id)
                .where(_lot.c.org_id == org_id)
                .order_by(_lot.c.id.desc())
                .limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    def own_lot(self, who: Account, lot_id: str) -> dict[str, Any]:
        """The lot if it belongs to ``who``'s organization; ``NotFound`` for any other (no hint it exists)."""
        with read_tx(self.ledger.engine) as conn:
            row = conn.execute(select(_lot).where(_lot.c.lot_id == lot_id[:40])).first()
        if row is None or int(row.org_id) != who.org_id:
            raise NotFound(f"no lot {lot_id[:40]!r} in {who.org_name}")
        return dict(row._mapping)

    def own_product(self, who: Account, gtin: str) -> dict[str, Any]:
        product = self.ledger.get_product(gtin)
        if int(product["org_id"]) != who.org_id:
            raise PermissionDenied(f"product {gtin} belongs to another organization")
        return product

    def log_size(self) -> int:
        with read_tx(self.ledger.engine) as conn:
            return store.read_head(conn).size

    def lot_event_count(self, lot_id: str) -> int:
        with read_tx(self.ledger.engine) as conn:
            return int(conn.execute(select(func.count()).where(_entry.c.lot_id == lot_id)).scalar_one())

    def record_event(
        self,
        org_id: int,
        lot_id: str,
        event: Mapping[str, Any],
        idempotency_key: str | None = None,
        role: str | None = None,
    ) -> dict[str, Any]:
        """Append one server-signed event; with a key, a resend returns the first answer and stores nothing.

        The key and the entry are stored in one transaction, so either both exist or neither."""
        if idempotency_key:
            first = self._submission(org_id, idempotency_key)
            if first is not None:
                return first
        item = {"lot": lot_id, "event": dict(event)}
        try:
            with write_tx(self.ledger.engine) as conn:
                recorded = append(conn, parse_batch([item], org_id, role), self.ledger.keyring, self._now)[0]
                if idempotency_key:
                    conn.execute(
                        insert(_submission).values(
                            org_id=org_id,
                            key=idempotency_key,
                            lot_id=lot_id,
                            created_at=self._now,
                            result=json.dumps(recorded, default=str),
                        )
                    )
        except ConflictError:
            first = self._submission(org_id, idempotency_key) if idempotency_key else None
            if first is None:
                raise
            return first  # the same submission won a race: its answer is this one's
        return dict(recorded)

    def _submission(self, org_id: int, key: str) -> dict[str, Any] | None:
        with read_tx(self.ledger.engine) as conn:
            row = conn.execute(
                select(_submission.c.result).where(_submission.c.org_id == org_id, _submission.c.key == key)
            ).first()
        return None if row is None else dict(json.loads(row.result))

    # --- photos ---------------------------------------------------------------------------

    def check_photo(self, data: bytes) -> str:
        return self.photos.check(data)

    def store_photo(self, data: bytes) -> dict[str, str]:
        return self.photos.put(data)

    def photo(self, sha256: str) -> tuple[bytes, str]:
        return self.photos.get(sha256)

    def photo_state(self, sha256: str) -> str:
        return self.photos.state(sha256)

    @classmethod
    def open(cls, ledger: Ledger, where: Path | Settings, photos: PhotoStore | None = None) -> Self:
        """The console over ``ledger``, with the photo store the settings choose (a folder: files under it/photos)."""
        if photos is None:
            photos = open_photo_store(where) if isinstance(where, Settings) else PhotoStore(where / "photos")
        return cls(ledger, photos)


def photo_state(photos: PhotoStore, sha256: str) -> str:
    """ok, tampered (the bytes no longer hash to the signed hash), missing or unavailable; for the scan page."""
    try:
        return photos.state(sha256)
    except InputError:
        return "missing"
