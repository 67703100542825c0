"""The ledger service: master data, the append path and verification, over a store.

``Ledger`` is built from an engine and a ``KeyRing`` handed in (nothing builds its own); the
CLI and the API construct it with ``Ledger.open(settings)``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, insert, select

from ledger.core import proofs
from ledger.core.policy import may_sign
from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate, input_error
from ledger.core.verify import AnchorCheck, LotData, LotReport, verify_lot
from ledger.errors import ConflictError, InputError, NoSuchResource, NotFound, VerificationError
from ledger.exports import epcis, epcis_index, epcis_query
from ledger.settings import Settings
from ledger.store import access, epcis_jobs, idempotency, migrate, resolver_data, shipments
from ledger.store import keys as keys_mod
from ledger.store import log as store
from ledger.store.append import MAX_BATCH, Submission, append, parse_batch
from ledger.store.db import make_engine, read_tx, write_tx
from ledger.store.models import Lot, Organization, Product, SigningKey

EPCIS_EVENT_TYPES = epcis_query.EVENT_TYPES  # the API reaches the exports only through this module
EPCIS_CONTEXT = epcis.CONTEXT
CAPTURE_LIMIT = MAX_BATCH  # events per capture or batch, at most

_org = Organization.__table__  # type: ignore[attr-defined]
_MAX_ID = 2**63 - 1  # the largest id a BIGINT holds: a 30-digit reference is not found, not an overflow
_SLUG_REF = re.compile(r"^[a-z0-9-]{1,64}$")  # what slugify and OrganizationCreate.slug produce
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:64] or "org"


class Ledger:
    def __init__(self, engine: Engine, keyring: keys_mod.KeyRing, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True) -> Ledger:
        """Connect, migrate, and check the master key against the ledger (fail fast if wrong)."""
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
        except BaseException:
            engine.dispose()  # refusing to start must not leave pooled connections behind
            raise
        return cls(engine, ring)

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
        with write_tx(self.engine) as conn:
            org_id = self._org_id(conn, org)
            access.set_prefixes(conn, org_id, prefixes)
            return self._org_json(conn, org_id)

    def get_org(self, ref: str | int) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return self._org_json(conn, self._org_id(conn, ref))

    def list_orgs(self) -> list[dict[str, Any]]:
        with read_tx(self.engine) as conn:
            return [self._org_json(conn, r.id) for r in conn.execute(select(_org.c.id).order_by(_org.c.id))]

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

    def generate_key(self, org: str | int) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            return self.keyring.generate(conn, self._org_id(conn, org), self.clock())

    def register_key(self, org: str | int, public_key_b64: str) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            return self.keyring.register(conn, self._org_id(conn, org), public_key_b64, self.clock())

    def revoke_key(self, kid: str, effective: datetime | None = None, reason: str | None = None) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            return self.keyring.revoke(conn, kid, effective or self.clock(), reason)

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

    # EPCIS 2.0 REST bindings: queries on a derived index (ledger/exports/epcis_index.py), capture jobs
    def epcis_query(self, params: Mapping[str, list[str]]) -> tuple[dict[str, Any], str | None]:
        """The query document answering EPCIS query ``params``, and the next page's token (None: last page)."""
        query = epcis_query.parse_query(params)
        self._epcis_index()
        with read_tx(self.engine) as conn:
            found, after = epcis_index.search(conn, query)
        return self.epcis_document(found), (None if after is None else query.page_token(after))

    def epcis_event(self, event_id: str) -> dict[str, Any]:
        """The EPCIS 2.0 event with this CBV 2.0 Event Hash ID."""
        self._epcis_index()
        with read_tx(self.engine) as conn:
            found = epcis_index.find(conn, event_id)
        if found is None:
            raise NoSuchResource(f"no event with eventID {event_id!r}: expected the Event Hash ID of a logged event")
        return found

    def epcis_document(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """An EPCIS 2.0 query document (SimpleEventQuery results) holding ``events``."""
        doc = epcis.document(events, self.clock())
        doc["type"] = "EPCISQueryDocument"
        doc["epcisBody"] = {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}}
        return doc

    def epcis_values(self, kind: str, offset: int, limit: int) -> list[str]:
        """A page of the read points, business locations or EPCs the log names."""
        self._epcis_index()
        with read_tx(self.engine) as conn:
            return epcis_index.distinct_values(conn, kind, offset, limit)

    def _epcis_index(self) -> None:
        """Index the log entries appended since the last query (never on the append path)."""
        with read_tx(self.engine) as conn:
            if not epcis_index.behind(conn):
                return
        try:
            with write_tx(self.engine) as conn:
                epcis_index.catch_up(conn)
        except ConflictError:  # another reader indexed the same entries meanwhile
            pass

    def epcis_save_job(self, org: str | int, created: str, captured: int, errors: list[dict[str, Any]]) -> str:
        finished = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with write_tx(self.engine) as conn:
            return epcis_jobs.save(conn, self._org_id(conn, org), created, finished, captured, errors)

    def epcis_job(self, org: str | int, capture_id: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return epcis_jobs.load(conn, capture_id, self._org_id(conn, org))

    # GS1 Digital Link resolver pages (ledger/store/resolver_data.py)
    def product_page(self, gtin: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return resolver_data.product(conn, gtin)

    def party_page(self, gln: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return resolver_data.party(conn, gln)

    def move_shipment(
        self,
        org: str | int,
        sscc: str,
        step: str,
        *,
        event_time: str,
        location: Mapping[str, Any] | None = None,
        party: str | None = None,
        documents: Sequence[Any] = (),
        role: str | None = None,
    ) -> list[dict[str, Any]]:
        """Shipping or receiving of a whole shipment; ``documents`` (``TYPE:NUMBER`` or ``{type, number}``)
        become each event's ``bizTransactionList``; ``ledger.core.policy`` decides with ``role``."""
        refs = shipments.reference_documents(documents)
        return shipments.move(
            self,
            org,
            sscc,
            step,
            event_time=event_time,
            location=location,
            party=party,
            biz_transactions=refs,
            role=role,
        )


def _parse(model: Any, data: Any, where: str) -> Any:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, where) from exc
