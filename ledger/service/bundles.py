"""Proof bundles through the facade: a lot's (version 1, or version 2 kind lot with the lots it was
made from) and a shipment's (version 2 kind shipment), all proven to one anchored tree head."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ledger.core import bundle as bundle_mod
from ledger.errors import ConflictError, NotFound
from ledger.service.reads import ChainIds, Reads, _latest_anchor, entry_json
from ledger.store import bundle_data, lineage, shipments
from ledger.store import log as store
from ledger.store.keys import keys_by_id


class Bundles(Reads):
    def bundle(self, lot_id: str, chain: ChainIds = None, explorer: str | None = None) -> dict[str, Any]:
        """The lot's proof bundle against the newest confirmed anchor (on ``chain``) that covers all its
        entries: version 1 for a lot made from nothing else, version 2 (kind lot) with its upstream lots' chains."""
        return self._bundle([lot_id], None, chain, explorer)

    def shipment_bundle(self, sscc: str, chain: ChainIds = None, explorer: str | None = None) -> dict[str, Any]:
        """One version-2 bundle (kind shipment) of every lot in the shipment and every lot upstream of them."""
        with self._read() as conn:
            shipments.get_shipment(conn, sscc)  # 400 for a bad SSCC, 404 for an unknown one
            lots = [m.lot_id for m in shipments.members(conn, sscc)]
            agg = shipments.aggregation_entries(conn, sscc)
        if not lots:
            raise ConflictError(f"shipment {sscc} holds no lots: nothing to bundle")
        newest = max(int(r.idx) for r, _ in agg)
        return self._bundle(lots, sscc, chain, explorer, newest_aggregation=newest)

    def _bundle(
        self,
        subjects: list[str],
        sscc: str | None,
        chain: ChainIds,
        explorer: str | None,
        newest_aggregation: int = -1,
    ) -> dict[str, Any]:
        with self._read() as conn:
            anchor = _latest_anchor(conn, chain, explorer)
            chains = _anchored_chains(conn, subjects, anchor, newest_aggregation)
            assert anchor is not None
            size = int(anchor["tree_size"])
            _add_upstream(conn, chains, subjects, size)
            if v3 := bundle_data.v3_bundle(conn, subjects, sscc, anchor):  # the anchor commits the heads map
                return v3
            all_rows = [r for rows in chains.values() for r in rows]
            root = store.root_at(conn, size)
            proofs = {int(r.idx): store.inclusion_proof(conn, int(r.idx), size) for r in all_rows}
            keys = keys_by_id(conn, {str(r.signer) for r in all_rows})
        if root.hex() != anchor["root"]:
            raise ConflictError(f"the stored log disagrees with its anchor at size {size}: refusing to bundle")
        pubs = {kid: bytes(k.public_key) for kid, k in keys.items()}
        entries = {lot: [(int(r.idx), entry_json(r)["entry"]) for r in rows] for lot, rows in chains.items()}
        if sscc is None and len(chains) == 1:
            lot_id = subjects[0]
            return bundle_mod.build_bundle(lot_id, entries[lot_id], pubs, size, root, proofs, anchor)
        kind, subject = ("lot", subjects[0]) if sscc is None else ("shipment", sscc)
        return bundle_mod.build_multi_bundle(
            kind, subject, list(entries.items()), pubs, size, root, proofs, anchor, members=subjects if sscc else ()
        )


def _anchored_chains(
    conn: Connection, subjects: list[str], anchor: dict[str, Any] | None, newest_aggregation: int
) -> dict[str, list[Any]]:
    """Each subject lot's entries; 404 for an unknown lot, 409 while its newest entry is not anchored."""
    size = int(anchor["tree_size"]) if anchor else 0
    chains: dict[str, list[Any]] = {}
    for lot_id in subjects:
        rows = store.lot_entries(conn, lot_id)
        if not rows:
            raise NotFound(f"no lot {lot_id!r}")
        newest = max(int(rows[-1].idx), newest_aggregation)
        if anchor is None or size <= newest:
            raise ConflictError(
                f"lot {lot_id} is not fully anchored yet: its newest entry has log index {newest}, "
                f"the newest anchor covers {size} entries; retry after the next anchor"
            )
        chains[lot_id] = rows
    return chains


def _add_upstream(conn: Connection, chains: dict[str, list[Any]], subjects: list[str], size: int) -> None:
    """Add the lots upstream of ``subjects``, through transformations inside the tree of ``size``."""
    frontier = list(subjects)
    while frontier:
        nxt = []
        for lot_id in frontier:
            for _, edge in lineage.edges(conn, lot_id, "up", max_depth=1):
                if edge.entry_idx < size and edge.input_lot not in chains:
                    chains[edge.input_lot] = [r for r in store.lot_entries(conn, edge.input_lot) if int(r.idx) < size]
                    nxt.append(edge.input_lot)
        frontier = nxt
