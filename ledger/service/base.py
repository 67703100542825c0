"""The facade's foundation: the engine, the key ring and the clock, and the organization lookups
every area of the facade shares.

``Ledger`` (in ``ledger.service``) is built from an engine and a ``KeyRing`` handed in (nothing builds
its own); the composition roots construct it with ``Ledger.open(settings)``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from ledger.core.records import input_error
from ledger.errors import NotFound
from ledger.settings import Settings
from ledger.store import keys as keys_mod
from ledger.store import masterdata_log, migrate
from ledger.store.db import read_tx, write_tx
from ledger.store.models import Organization, SigningKey
from ledger.store.photos import PhotoStore, open_photo_store

_org = Organization.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]
_MAX_ID = 2**63 - 1  # the largest id a BIGINT holds: a 30-digit reference is not found, not an overflow
_SLUG_REF = re.compile(r"^[a-z0-9-]{1,64}$")  # what slugify and OrganizationCreate.slug produce


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:64] or "org"


class LedgerBase:
    """What every area of the facade stands on: the store's engine, the key ring, the clock."""

    def __init__(
        self,
        engine: Engine,
        keyring: keys_mod.KeyRing,
        clock: Callable[[], datetime] | None = None,
        *,
        log_masterdata: bool = True,
        photos: PhotoStore | Callable[[], PhotoStore] | None = None,
    ) -> None:
        """``log_masterdata``: write organizations, keys and products into the log as format v2 entries
        (issue 11). Off only for a ledger of lot events alone, as before format v2 (tests pinning log
        positions of events use it). ``photos``: where product images are stored by their SHA-256, or
        what builds it on first use (``Ledger.open``: the store the settings choose; the app: its own)."""
        self.engine = engine
        self.keyring = keyring
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log_masterdata = log_masterdata
        self._photos = photos

    def use_photos(self, photos: PhotoStore | Callable[[], PhotoStore]) -> None:
        """Keep product images in ``photos`` (or what it builds) unless the ledger was given a photo store."""
        if self._photos is None:
            self._photos = photos

    def photo_store(self) -> PhotoStore | None:
        """The photo store product images live in (built on first use), or None without one."""
        if self._photos is not None and not isinstance(self._photos, PhotoStore):
            self._photos = self._photos()
        return self._photos

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True, log_masterdata: bool = True) -> Self:
        """Connect, migrate, and check the master key against the ledger (fail fast if wrong); write an
        older ledger's master data into the log (once)."""
        from ledger import service  # looked up at call time: tests track the engines it makes

        engine = service.make_engine(settings.resolved_database_url())
        try:
            if migrate_schema:
                migrate.upgrade(engine)
            with write_tx(engine) as conn:
                fresh = not keys_mod.ledger_has_fingerprint(conn)
                master = keys_mod.load_master_key(
                    settings.master_key, settings.resolved_master_key_file(), create=fresh
                )
                keys_mod.check_master_key(conn, master)
                ring = keys_mod.KeyRing(master)
                ring.check_can_open(conn)
                if log_masterdata:
                    masterdata_log.backfill(conn, ring, datetime.now(UTC))  # format v2: once, then a no-op
        except BaseException:
            engine.dispose()  # refusing to start must not leave pooled connections behind
            raise
        return cls(engine, ring, log_masterdata=log_masterdata, photos=lambda: open_photo_store(settings))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_tx(self.engine) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write_tx(self.engine) as conn:
            yield conn

    @staticmethod
    def _org_id(conn: Connection, ref: str | int) -> int:
        row = None
        if isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit()):
            if 0 < int(ref) <= _MAX_ID:  # ASCII digits only: '²' and Arabic-Indic '١' are not ids
                row = conn.execute(select(_org.c.id).where(_org.c.id == int(ref))).first()
        elif _SLUG_REF.match(str(ref)):
            row = conn.execute(select(_org.c.id).where(_org.c.slug == ref)).first()
        if row is None:
            raise NotFound(f"no organization {ref!r}")
        return int(row.id)

    @staticmethod
    def _org_json(conn: Connection, org_id: int) -> dict[str, Any]:
        org = conn.execute(select(_org).where(_org.c.id == org_id)).one()
        keys = conn.execute(select(_key).where(_key.c.org_id == org_id).order_by(_key.c.id))
        return {
            "id": org.id,
            "slug": org.slug,
            "name": org.name,
            "kind": org.kind,
            "province": org.province,
            "gs1_prefixes": list(org.gs1_prefixes or []),
            "gln": org.gln,
            "keys": [keys_mod.public_key_info(k) for k in keys],
        }


def parse(model: Any, data: Any, where: str) -> Any:
    """``data`` as ``model`` (passed through when it is one already); bad input is an ``InputError``."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, where) from exc
