"""Master data through the facade: organizations, their signing keys and GS1 prefixes, products, lots;
and the idempotent-write block every write may run in."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.core import masterdata
from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate
from ledger.errors import ConflictError, InputError, NotFound, VerificationError
from ledger.service.base import LedgerBase, parse, slugify
from ledger.store import access, idempotency, masterdata_log, v2log
from ledger.store.append import Submission, append
from ledger.store.db import bound
from ledger.store.models import Lot, Organization, Product, SigningKey

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]


class MasterData(LedgerBase):
    # --- idempotent writes ---------------------------------------------------------------

    @contextmanager
    def idempotent(
        self, org_id: int, key: str, fingerprint: str, retention: timedelta = timedelta(hours=24)
    ) -> Iterator[idempotency.Claim]:
        """Run the writes inside this block in one transaction with the key's record (``ledger.store.idempotency``).

        If the key was used before, ``claim.replay`` is the first answer and nothing may be written;
        otherwise every ``Ledger`` write inside joins the transaction and ``claim.complete(answer)``
        stores the answer with it.
        """
        with idempotency.claim(self.engine, org_id, key, fingerprint, self.clock(), retention) as claim:
            yield claim

    @contextmanager
    def joined(self, claim: idempotency.Claim) -> Iterator[None]:
        """Make the claim's open transaction the one this context's writes join (e.g. in another thread)."""
        assert claim.conn is not None, "a replayed claim has no transaction to join"
        with bound(self.engine, claim.conn):
            yield

    # --- organizations and keys -----------------------------------------------------------

    def create_org(self, data: OrganizationCreate, *, generate_key: bool = True) -> dict[str, Any]:
        slug = data.slug or slugify(data.name)
        with self._write() as conn:
            if conn.execute(select(_org.c.id).where(_org.c.slug == slug)).first():
                raise ConflictError(f"organization {slug!r} exists already", field="slug")
            org_id = conn.execute(
                insert(_org)
                .values(
                    slug=slug,
                    name=data.name,
                    kind=data.kind,
                    province=data.province,
                    gs1_prefixes=[],
                    gln=data.gln,
                    created_at=self.clock(),
                )
                .returning(_org.c.id)
            ).scalar_one()
            access.set_prefixes(conn, org_id, data.gs1_prefixes)
            self._write_org(conn, org_id)
            if generate_key:
                self._new_key(conn, org_id, lambda: self.keyring.generate(conn, org_id, self.clock()))
            return self._org_json(conn, org_id)

    def set_gs1_prefixes(self, org: str | int, prefixes: Sequence[str]) -> dict[str, Any]:
        """Replace the organization's GS1 company prefixes (none may overlap another organization's)."""
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            access.set_prefixes(conn, org_id, prefixes)
            self._write_org(conn, org_id)
            return self._org_json(conn, org_id)

    def get_org(self, ref: str | int) -> dict[str, Any]:
        with self._read() as conn:
            return self._org_json(conn, self._org_id(conn, ref))

    def list_orgs(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [self._org_json(conn, r.id) for r in conn.execute(select(_org.c.id).order_by(_org.c.id))]

    def generate_key(self, org: str | int) -> dict[str, Any]:
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            return self._new_key(conn, org_id, lambda: self.keyring.generate(conn, org_id, self.clock()))

    def register_key(
        self, org: str | int, public_key_b64: str, *, pop: str | None = None, effective: str | None = None
    ) -> dict[str, Any]:
        """Register a key the organization holds; ``pop`` is its signature over the registration statement
        (``registration_statement``) made for the same ``effective`` time (RFC 3339 UTC)."""
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            when = self._effective(effective)
            return self._new_key(
                conn, org_id, lambda: self.keyring.register(conn, org_id, public_key_b64, when), pop=pop
            )

    def registration_statement(self, org: str | int, public_key_b64: str, effective: str) -> dict[str, Any]:
        """The statement a client signs (raw Ed25519 over its RFC 8785 bytes) as the ``pop`` of its key."""
        self._effective(effective)
        with self._write() as conn:
            slug = str(self._org_json(conn, self._org_id(conn, org))["slug"])
            return masterdata.key_registration(slug, public_key_b64, effective, self.keyring.log_signer(conn).key_id)

    def _effective(self, effective: str | None) -> datetime:
        if effective is None:
            return self.clock()
        masterdata.validate_body("key", {"action": "retire", "org": "a-b-c", "effective": effective})
        when = datetime.fromisoformat(effective.replace("Z", "+00:00"))
        if v2log.utc_text(when) != effective:
            raise InputError(f"effective: expected the form {v2log.utc_text(when)}, got {effective}", field="effective")
        return when

    def _new_key(
        self, conn: Connection, org_id: int, make: Callable[[], dict[str, Any]], pop: str | None = None
    ) -> dict[str, Any]:
        """Make a key (the organization's previous active key retires) and write both into the log."""
        active = select(_key.c.key_id).where(_key.c.org_id == org_id, _key.c.status == "active")
        before = [r.key_id for r in conn.execute(active)]
        info = make()
        if not self.log_masterdata:
            return info
        now = self.clock()
        when = datetime.fromisoformat(str(info["created_at"]))
        for kid in before:
            masterdata_log.key_action(conn, self.keyring, kid, "retire", when, now, "rotated")
        masterdata_log.register_key(conn, self.keyring, info["key_id"], now, effective=when, pop=pop)
        return info

    def revoke_key(self, kid: str, effective: datetime | None = None, reason: str | None = None) -> dict[str, Any]:
        with self._write() as conn:
            info = self.keyring.revoke(conn, kid, effective or self.clock(), reason)
            when = datetime.fromisoformat(str(info["revoked_at"]))
            if self.log_masterdata:
                masterdata_log.key_action(conn, self.keyring, kid, "revoke", when, self.clock(), reason)
            return info

    def _write_org(self, conn: Connection, org_id: int) -> None:
        if self.log_masterdata:
            masterdata_log.write_org(conn, org_id, self.keyring.log_signer(conn), self.clock())

    def trust_roots(self) -> dict[str, Any]:
        """The log key the operator publishes (``/.well-known/ocop-ledger.json`` adds the chain)."""
        with self._write() as conn:
            log = self.keyring.log_signer(conn)
        return {"key_id": log.key_id, "public_key": base64.b64encode(log.public_key).decode()}

    # --- products and lots ----------------------------------------------------------------

    def create_product(self, org: str | int, data: ProductCreate) -> dict[str, Any]:
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            access.check_product(conn, org_id, data.gtin)
            if conn.execute(select(_product.c.id).where(_product.c.gtin == data.gtin)).first():
                raise ConflictError(f"product with GTIN {data.gtin} exists already", field="gtin")
            values = data.model_dump(mode="json") | {"images": self.product_images(data.images)}
            conn.execute(insert(_product).values(org_id=org_id, created_at=self.clock(), **values))
            if self.log_masterdata:
                masterdata_log.write_product(conn, self.keyring, data.gtin, self.clock())
        return self.get_product(data.gtin)

    def update_product(self, org: str | int, gtin: str, data: ProductCreate) -> dict[str, Any]:
        """Replace the product's record with ``data`` (its GTIN must be ``gtin``): a new signed version.

        Lots commissioned before keep showing the version in force then (``LotReport.product``).
        """
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            masterdata_log.update_product_row(conn, org_id, gtin, data, self.product_images(data.images))
            if self.log_masterdata:
                masterdata_log.write_product(conn, self.keyring, data.gtin, self.clock())
        return self.get_product(data.gtin)

    def product_images(self, hashes: Sequence[str]) -> list[dict[str, str]]:
        """``[{"sha256", "media_type"}]`` of images in the photo store (the product body signs both);
        ``InputError`` for one not uploaded or whose stored file no longer matches its hash."""
        photos = self.photo_store() if hashes else None
        if hashes and photos is None:
            raise InputError("this ledger has no photo store: product images cannot be checked", field="images")
        out = []
        for n, sha in enumerate(hashes):
            assert photos is not None
            try:
                _, media_type = photos.get(sha)
            except NotFound:
                raise InputError(
                    f"images.{n}: no uploaded image {sha}: upload it first (POST /api/v1/products/images)",
                    field=f"images.{n}",
                ) from None
            except VerificationError as exc:
                raise InputError(f"images.{n}: {exc}", field=f"images.{n}") from None
            out.append({"sha256": sha, "media_type": media_type})
        return out

    def store_product_image(self, data: bytes) -> dict[str, str]:
        """Store an image for product master data by its SHA-256: ``{"sha256", "media_type"}``."""
        photos = self.photo_store()
        if photos is None:
            raise InputError("this ledger has no photo store", field="image")
        stored = photos.put(data)
        return {"sha256": stored["sha256"], "media_type": stored["mediaType"]}

    def get_product(self, gtin: str) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(select(_product).where(_product.c.gtin == gtin)).first()
            if row is None:
                raise NotFound(f"no product with GTIN {gtin}")
            return dict(row._mapping)

    def create_lot(
        self, org: str | int, data: LotCreate | Mapping[str, Any], *, role: str | None = None
    ) -> dict[str, Any]:
        """Create a lot and its signed commissioning entry (seq 0) in one transaction."""
        lot = parse(LotCreate, data, "lot")
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            sub = Submission(lot=lot.lot_id, create=lot, actor_org_id=org_id, role=role)
            append(conn, [sub], self.keyring, self.clock())
        return self.get_lot(lot.lot_id)

    def get_lot(self, lot_id: str) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(select(_lot).where(_lot.c.lot_id == lot_id)).first()
            if row is None:
                raise NotFound(f"no lot {lot_id!r}")
            return dict(row._mapping)
