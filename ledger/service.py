"""The ledger service: master data, the append path and verification, over a store.

``Ledger`` is built from an engine and a ``KeyRing`` handed in (nothing builds its own); the
CLI and the API construct it with ``Ledger.open(settings)``.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, insert, select

from ledger.core import masterdata, proofs
from ledger.core.policy import may_sign
from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate, input_error
from ledger.core.verify import AnchorCheck, LotData, LotReport, verify_lot
from ledger.errors import ConflictError, InputError, NotFound, VerificationError
from ledger.settings import Settings
from ledger.store import access, idempotency, masterdata_log, migrate, v2log
from ledger.store import keys as keys_mod
from ledger.store import log as store
from ledger.store.append import Submission, append, parse_batch
from ledger.store.db import make_engine, read_tx, write_tx
from ledger.store.models import Lot, Organization, Product, SigningKey

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:64] or "org"


class Ledger:
    def __init__(
        self,
        engine: Engine,
        keyring: keys_mod.KeyRing,
        clock: Callable[[], datetime] | None = None,
        *,
        log_masterdata: bool = True,
    ) -> None:
        """``log_masterdata``: write organizations, keys and products into the log as format v2 entries
        (issue 11). Off only for a ledger of lot events alone, as before format v2 (tests pinning log
        positions of events use it)."""
        self.engine = engine
        self.keyring = keyring
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log_masterdata = log_masterdata

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True, log_masterdata: bool = True) -> Ledger:
        """Connect, migrate, and check the master key against the ledger (fail fast if wrong); write an
        older ledger's master data into the log (once)."""
        engine = make_engine(settings.resolved_database_url())
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
        return cls(engine, ring, log_masterdata=log_masterdata)

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

    # --- organizations and keys -----------------------------------------------------------

    def create_org(self, data: OrganizationCreate, *, generate_key: bool = True) -> dict[str, Any]:
        slug = data.slug or slugify(data.name)
        with write_tx(self.engine) as conn:
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
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            access.set_prefixes(conn, org_id, prefixes)
            self._write_org(conn, org_id)
            return self._org_json(conn, org_id)

    def get_org(self, ref: str | int) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return self._org_json(conn, self._org_id(conn, ref))

    def list_orgs(self) -> list[dict[str, Any]]:
        with read_tx(self.engine) as conn:
            return [self._org_json(conn, r.id) for r in conn.execute(select(_org.c.id).order_by(_org.c.id))]

    @staticmethod
    def _org_id(conn: Connection, ref: str | int) -> int:
        col = _org.c.id if isinstance(ref, int) or str(ref).isdigit() else _org.c.slug
        val = int(ref) if col is _org.c.id else ref
        row = conn.execute(select(_org.c.id).where(col == val)).first()
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
            "keys": [keys_mod.public_key_info(k) for k in keys],
        }

    def generate_key(self, org: str | int) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            return self._new_key(conn, org_id, lambda: self.keyring.generate(conn, org_id, self.clock()))

    def register_key(
        self, org: str | int, public_key_b64: str, *, pop: str | None = None, effective: str | None = None
    ) -> dict[str, Any]:
        """Register a key the organization holds; ``pop`` is its signature over the registration statement
        (``registration_statement``) made for the same ``effective`` time (RFC 3339 UTC)."""
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            when = self._effective(effective)
            info = self._new_key(
                conn, org_id, lambda: self.keyring.register(conn, org_id, public_key_b64, when), pop=pop
            )
            return info

    def registration_statement(self, org: str | int, public_key_b64: str, effective: str) -> dict[str, Any]:
        """The statement a client signs (raw Ed25519 over its RFC 8785 bytes) as the ``pop`` of its key."""
        self._effective(effective)
        with write_tx(self.engine) as conn:
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
        before = [
            r.key_id
            for r in conn.execute(select(_key.c.key_id).where(_key.c.org_id == org_id, _key.c.status == "active"))
        ]
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
        with write_tx(self.engine) as conn:
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
        with write_tx(self.engine) as conn:
            log = self.keyring.log_signer(conn)
        return {"key_id": log.key_id, "public_key": base64.b64encode(log.public_key).decode()}

    # --- products and lots ----------------------------------------------------------------

    def create_product(self, org: str | int, data: ProductCreate) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            access.check_product(conn, org_id, data.gtin)
            if conn.execute(select(_product.c.id).where(_product.c.gtin == data.gtin)).first():
                raise ConflictError(f"product with GTIN {data.gtin} exists already", field="gtin")
            conn.execute(
                insert(_product).values(org_id=org_id, created_at=self.clock(), **data.model_dump(mode="json"))
            )
            if self.log_masterdata:
                masterdata_log.write_product(conn, self.keyring, data.gtin, self.clock())
        return self.get_product(data.gtin)

    def update_product(self, org: str | int, gtin: str, data: ProductCreate) -> dict[str, Any]:
        """Replace the product's record with ``data`` (its GTIN must be ``gtin``): a new signed version.

        Lots commissioned before keep showing the version in force then (``LotReport.product``).
        """
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            masterdata_log.update_product_row(conn, org_id, gtin, data)
            if self.log_masterdata:
                masterdata_log.write_product(conn, self.keyring, data.gtin, self.clock())
        return self.get_product(data.gtin)

    def get_product(self, gtin: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(_product).where(_product.c.gtin == gtin)).first()
            if row is None:
                raise NotFound(f"no product with GTIN {gtin}")
            return dict(row._mapping)

    def create_lot(
        self, org: str | int, data: LotCreate | Mapping[str, Any], *, role: str | None = None
    ) -> dict[str, Any]:
        """Create a lot and its signed commissioning entry (seq 0) in one transaction."""
        lot = _parse(LotCreate, data, "lot")
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            sub = Submission(lot=lot.lot_id, create=lot, actor_org_id=org_id, role=role)
            append(conn, [sub], self.keyring, self.clock())
        return self.get_lot(lot.lot_id)

    def get_lot(self, lot_id: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(_lot).where(_lot.c.lot_id == lot_id)).first()
            if row is None:
                raise NotFound(f"no lot {lot_id!r}")
            return dict(row._mapping)

    # --- events ---------------------------------------------------------------------------

    def record(
        self, org: str | int, items: Sequence[Mapping[str, Any]], *, role: str | None = None
    ) -> list[dict[str, Any]]:
        """Append a batch of events, all or nothing.

        Each item is ``{"lot": id, "event": {...}}`` (signed with the organization's server-held
        key) or ``{"lot": id, "entry": {statement + "sig"}}`` (signed by the organization).
        ``role`` is the caller's API-key role (None: the organization itself, e.g. the CLI);
        ``ledger.core.policy`` decides on every event in the append path.
        """
        if not items:
            raise InputError("no events to record: expected at least 1, got 0", field="events")
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            return append(conn, parse_batch(items, org_id, role), self.keyring, self.clock())

    # --- log and verification -------------------------------------------------------------

    def head(self) -> store.TreeHead:
        with read_tx(self.engine) as conn:
            return store.read_head(conn)

    def verify_lot(self, lot_id: str, anchor: AnchorCheck | None = None) -> LotReport:
        with read_tx(self.engine) as conn:
            data = self.lot_data(conn, lot_id)
        return verify_lot(data, may_sign, anchor)

    def lot_data(self, conn: Connection, lot_id: str, size: int | None = None) -> LotData:
        """Everything verification needs about one lot, read in O(entries · log n)."""
        head = store.read_head(conn)
        size = head.size if size is None else size
        root = head.root if size == head.size else store.root_at(conn, size)
        # the product's GTIN comes along: the lot's product must be the one its signed id names
        lot_row = conn.execute(
            select(_lot, _product.c.gtin.label("product_gtin"))
            .outerjoin(_product, _product.c.id == _lot.c.product_id)
            .where(_lot.c.lot_id == lot_id)
        ).first()
        rows = [dict(r._mapping) for r in store.lot_entries(conn, lot_id) if r.idx < size]
        coords: set[proofs.Coord] = set(proofs.root_coords(size))
        plans = {}
        for r in rows:
            ranges, cs = proofs.inclusion_coords(int(r["idx"]), size)
            plans[int(r["idx"])] = ranges
            coords |= cs
        nodes = store.read_nodes(conn, coords)
        # A missing node is tampering, reported by verify_lot on the entries whose proofs need
        # it (they get no proof) or, if only the root needs it, on the log head.
        try:
            nodes_root = proofs.root_from_nodes(size, nodes)
        except VerificationError as exc:
            nodes_root = b"missing:" + str(exc).encode()
        proof_map = {}
        for i, rg in plans.items():
            try:
                proof_map[i] = proofs.hashes_from_nodes(rg, nodes)
            except VerificationError:
                continue
        keys = self._keys_for(conn, {r["signer"] for r in rows})
        return LotData(
            lot_id,
            dict(lot_row._mapping) if lot_row else None,
            rows,
            keys,
            size,
            root,
            nodes_root,
            proof_map,
            self._input_heads(conn, rows),
            masterdata_log.product_chain(conn, lot_row.product_id if lot_row else None, size),
        )

    @staticmethod
    def _keys_for(conn: Connection, kids: set[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for kid, row in keys_mod.keys_by_id(conn, kids).items():
            kind = conn.execute(select(_org.c.kind).where(_org.c.id == row.org_id)).scalar_one()
            out[kid] = {
                "public_key": bytes(row.public_key),
                "org_id": row.org_id,
                "org_kind": kind,
                "revoked_at": row.revoked_at,
            }
            facts = masterdata_log.key_facts(conn, kid)  # the log's word, where it has one
            if facts is None:
                del out[kid]  # its registration does not verify: not a registered key
            else:
                out[kid].update(facts)
        return out

    @staticmethod
    def _input_heads(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
        from ledger.core.canonical import from_canonical

        wanted = []
        for r in rows:
            if r["event_type"] == "TransformationEvent":
                wanted += [
                    (i.get("lot"), i.get("head")) for i in from_canonical(r["event"].encode()).get("ocop:inputs", [])
                ]
        out = {}
        for lot, head in wanted:
            for e in store.lot_entries(conn, str(lot)):
                if bytes(e.leaf_hash).hex() == head:
                    out[(lot, head)] = int(e.idx)
        return out


def _parse(model: Any, data: Any, where: str) -> Any:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, where) from exc
