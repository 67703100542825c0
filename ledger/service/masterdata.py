"""Master data through the facade: organizations, their signing keys and GS1 prefixes, products, lots;
and the idempotent-write block every write may run in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate
from ledger.errors import ConflictError, NotFound
from ledger.service.base import LedgerBase, parse, slugify
from ledger.store import access, idempotency
from ledger.store.append import Submission, append
from ledger.store.db import bound
from ledger.store.models import Lot, Organization, Product

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]


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
            if generate_key:
                self.keyring.generate(conn, org_id, self.clock())
            return self._org_json(conn, org_id)

    def set_gs1_prefixes(self, org: str | int, prefixes: Sequence[str]) -> dict[str, Any]:
        """Replace the organization's GS1 company prefixes (none may overlap another organization's)."""
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            access.set_prefixes(conn, org_id, prefixes)
            return self._org_json(conn, org_id)

    def get_org(self, ref: str | int) -> dict[str, Any]:
        with self._read() as conn:
            return self._org_json(conn, self._org_id(conn, ref))

    def list_orgs(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [self._org_json(conn, r.id) for r in conn.execute(select(_org.c.id).order_by(_org.c.id))]

    def generate_key(self, org: str | int) -> dict[str, Any]:
        with self._write() as conn:
            return self.keyring.generate(conn, self._org_id(conn, org), self.clock())

    def register_key(self, org: str | int, public_key_b64: str) -> dict[str, Any]:
        with self._write() as conn:
            return self.keyring.register(conn, self._org_id(conn, org), public_key_b64, self.clock())

    def revoke_key(self, kid: str, effective: datetime | None = None, reason: str | None = None) -> dict[str, Any]:
        with self._write() as conn:
            return self.keyring.revoke(conn, kid, effective or self.clock(), reason)

    # --- products and lots ----------------------------------------------------------------

    def create_product(self, org: str | int, data: ProductCreate) -> dict[str, Any]:
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            access.check_product(conn, org_id, data.gtin)
            if conn.execute(select(_product.c.id).where(_product.c.gtin == data.gtin)).first():
                raise ConflictError(f"product with GTIN {data.gtin} exists already", field="gtin")
            conn.execute(
                insert(_product).values(org_id=org_id, created_at=self.clock(), **data.model_dump(mode="json"))
            )
        return self.get_product(data.gtin)

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
