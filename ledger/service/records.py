"""Events through the facade: the append path (``ledger.core.policy`` decides inside it), the log's
head, and the verification of one lot from what the store holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from ledger.core import proofs
from ledger.core.canonical import from_canonical
from ledger.core.policy import may_sign
from ledger.core.verify import AnchorCheck, LotData, LotReport, verify_lot
from ledger.errors import InputError, VerificationError
from ledger.service.base import LedgerBase
from ledger.store import keys as keys_mod
from ledger.store import log as store
from ledger.store import masterdata_log
from ledger.store.append import append, parse_batch
from ledger.store.models import Lot, Organization, Product

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]


class Records(LedgerBase):
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
        with self._write() as conn:
            org_id = self._org_id(conn, org)
            return append(conn, parse_batch(items, org_id, role), self.keyring, self.clock())

    def head(self) -> store.TreeHead:
        with self._read() as conn:
            return store.read_head(conn)

    def verify_lot(self, lot_id: str, anchor: AnchorCheck | None = None) -> LotReport:
        with self._read() as conn:
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
        nodes_root, proof_map = _proofs(conn, [int(r["idx"]) for r in rows], size)
        return LotData(
            lot_id,
            dict(lot_row._mapping) if lot_row else None,
            rows,
            _keys_for(conn, {r["signer"] for r in rows}),
            size,
            root,
            nodes_root,
            proof_map,
            _input_heads(conn, rows),
            masterdata_log.product_chain(
                conn, lot_row.product_id if lot_row else None, size, _vouched_about(lot_id, lot_row)
            ),
        )


def _vouched_about(lot_id: str, lot_row: Any) -> list[dict[str, str]]:
    """What attestations shown on the lot's page may be about besides its product: the lot and its plot."""
    about = [{"type": "lot", "id": lot_id}]
    plot = getattr(lot_row, "growing_area_code", None) if lot_row is not None else None
    return [*about, {"type": "plot", "id": str(plot)}] if plot else about


def _proofs(conn: Connection, indexes: Sequence[int], size: int) -> tuple[bytes, dict[int, list[bytes]]]:
    """The root computed from the stored nodes and each index's inclusion proof, in one read of nodes.

    A missing node is tampering, reported by verify_lot on the entries whose proofs need it (they
    get no proof) or, if only the root needs it, on the log head."""
    coords: set[proofs.Coord] = set(proofs.root_coords(size))
    plans = {}
    for i in indexes:
        ranges, cs = proofs.inclusion_coords(i, size)
        plans[i] = ranges
        coords |= cs
    nodes = store.read_nodes(conn, coords)
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
    return nodes_root, proof_map


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


def _input_heads(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
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
