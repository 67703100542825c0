"""Reads through the facade: a lot as JSON, the log for auditors (pages of entries, checkpoint,
consistency proofs), anchors, lineage one step each way, signers' names, and the two cheap reads
(log size, verdict key) that run on every request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ledger.core import canonical, gs1, statements
from ledger.core.ports import explorer_tx_url
from ledger.core.verify import statement_of
from ledger.errors import InputError, NotFound
from ledger.service.masterdata import MasterData
from ledger.store import lineage
from ledger.store import log as store
from ledger.store.keys import keys_by_id
from ledger.store.models import Anchor, Organization

_anchor = Anchor.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]
ChainIds = tuple[int, str] | None  # (chain id, contract) anchors are listed for; None: every chain


VERDICT_REUSE_SPAN = 20_000
"""At most this many entries appended since a verdict was computed are scanned to reuse it."""


class Reads(MasterData):
    def lot_json(self, lot_id: str, public_url: str) -> dict[str, Any]:
        """The lot, its product, its producer and its signed entries (not verified here)."""
        lot = self.get_lot(lot_id)
        product = self.get_product(str(lot_id[:14]))
        with self._read() as conn:
            entries = [entry_json(r) for r in store.lot_entries(conn, lot_id)]
        producer = self.get_org(int(lot["org_id"]))
        return {
            **{k: _plain(v) for k, v in lot.items() if k not in ("id", "product_id", "org_id", "created_at")},
            "gtin": lot_id[:14],
            "digital_link": gs1.digital_link(public_url, lot_id[:14], str(lot["code"])),
            "head": {"seq": lot["last_seq"], "hash": lot["head_hash"]},
            "product": {k: _plain(v) for k, v in product.items() if k not in ("id", "created_at")},
            "producer": {k: producer[k] for k in ("id", "slug", "name", "kind", "province")},
            "entries": entries,
        }

    # --- the log, for auditors ------------------------------------------------------------

    def log_entries(self, start: int, end: int | None, page_max: int) -> dict[str, Any]:
        """Entries ``[start, end)`` of the log (default ``start + min(100, page_max)``), at most ``page_max``."""
        end = start + min(100, page_max) if end is None else end
        if end <= start:
            raise InputError(f"end must be greater than start: got start {start}, end {end}", field="end")
        if end - start > page_max:
            raise InputError(f"page too large: expected at most {page_max} entries, got {end - start}", field="end")
        with self._read() as conn:
            size = store.read_head(conn).size
            if start > size:
                raise NotFound(f"start beyond the log: expected at most {size}, got {start}")
            end = min(end, size)
            rows = store.entries_range(conn, start, end)
        return {"start": start, "end": end, "tree_size": size, "entries": [entry_json(r) for r in rows]}

    def checkpoint(self, chain: ChainIds, explorer: str | None) -> dict[str, Any]:
        """The log's current tree head and its newest confirmed anchor on ``chain``."""
        with self._read() as conn:
            head = store.read_head(conn)
            anchor = _latest_anchor(conn, chain, explorer)
        return {"tree_size": head.size, "root": head.root.hex(), "anchor": anchor}

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """RFC 9162 consistency proof from tree size ``first`` to ``second``, with both roots."""
        if first > second:
            raise InputError(f"first must not exceed second: got first {first}, second {second}", field="first")
        with self._read() as conn:
            proof = store.consistency_proof(conn, first, second)
            r1, r2 = store.root_at(conn, first), store.root_at(conn, second)
        return {
            "first": first,
            "second": second,
            "first_root": r1.hex(),
            "second_root": r2.hex(),
            "proof": [h.hex() for h in proof],
        }

    # --- anchors --------------------------------------------------------------------------

    def anchors(
        self, chain: ChainIds, explorer: str | None, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Confirmed anchors on ``chain``, newest first (``before``: only smaller tree sizes)."""
        with self._read() as conn:
            return _anchors(conn, chain, explorer, limit, before)

    def latest_anchor(self, chain: ChainIds, explorer: str | None) -> dict[str, Any] | None:
        with self._read() as conn:
            return _latest_anchor(conn, chain, explorer)

    def anchoring_status(self, chain: ChainIds, explorer: str | None) -> dict[str, Any]:
        """How far the log is anchored: log size, newest confirmed anchor, entries waiting, rows by status."""
        with self._read() as conn:
            size = store.read_head(conn).size
            latest = _latest_anchor(conn, chain, explorer)
            q = select(_anchor.c.status, func.count()).group_by(_anchor.c.status)
            counts = {str(s): int(n) for s, n in conn.execute(q)}
        anchored = latest["tree_size"] if latest else 0
        return {
            "tree_size": size,
            "anchored_size": anchored,
            "pending_entries": size - anchored,
            "chain_id": chain[0] if chain else None,
            "contract": chain[1] if chain else None,
            "latest": latest,
            "counts": counts,
        }

    # --- the cheap reads of every request -------------------------------------------------

    def log_size(self) -> int:
        """The log's size, from one statement on a raw DBAPI connection (cheap; for /healthz)."""
        row = self._raw_one("SELECT size FROM log_head WHERE id = 1", ())
        return int(row[0]) if row else 0

    def verdict_key(self, lot_id: str, chain: ChainIds) -> tuple[str, int, int]:
        """(lot, log size, newest anchored size on ``chain``), from one statement on a raw DBAPI
        connection (about 10x cheaper than a SQLAlchemy transaction; it runs on the event loop)."""
        size, anchored, _ = self.verdict_state(lot_id, chain, None)
        return (lot_id, size, anchored)

    def verdict_state(self, lot_id: str, chain: ChainIds, since: int | None) -> tuple[int, int, bool]:
        """(log size, newest anchored size on ``chain``, whether the log grew since ``since`` by an entry a
        verdict on ``lot_id`` reads), in one statement on one snapshot.

        A lot's verdict reads the lot's own entries and the format v2 entries (organizations, keys,
        products, attestations, heads), never another lot's events: a transformation's input heads
        are entries that existed when it was signed, and the log is append-only. So a verdict computed
        at size ``since`` still holds at a larger size if none of the entries in between is the lot's
        or a v2 entry; it then tells the tree size it was computed at. The scan is bounded: more than
        ``VERDICT_REUSE_SPAN`` entries since counts as grown. A ledger that keeps master data out of
        the log (``log_masterdata=False``, format v1) changes it in tables only, so there any entry
        since counts, as it always did.
        """
        ph = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        size_sql = "(SELECT size FROM log_head WHERE id = 1)"
        anchored_sql = "(SELECT max(tree_size) FROM anchor WHERE status = 'confirmed'"
        params: list[Any] = []
        if chain is not None:
            anchored_sql += f" AND chain_id = {ph} AND contract = {ph}"
            params += chain
        anchored_sql += ")"
        if since is None:
            changed_sql = "1"
        elif not self.log_masterdata:
            changed_sql = f"CASE WHEN {size_sql} = {ph} THEN 0 ELSE 1 END"
            params.append(since)
        else:
            kinds = ", ".join(ph for _ in statements.KINDS)
            changed_sql = (
                f"CASE WHEN {size_sql} - {ph} > {ph} OR {size_sql} < {ph} THEN 1 ELSE (SELECT count(*) FROM "
                f"(SELECT 1 FROM log_entry WHERE idx >= {ph} AND idx < {size_sql} "
                f"AND (lot_id = {ph} OR event_type IN ({kinds})) LIMIT 1) AS grown) END"
            )
            params += [since, VERDICT_REUSE_SPAN, since, since, lot_id, *statements.KINDS]
        row = self._raw_one(f"SELECT {size_sql}, {anchored_sql}, {changed_sql}", tuple(params))
        return int(row[0] or 0), int(row[1] or 0), bool(row[2])

    def _raw_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql, params)
            row = cur.fetchone()
            cur.close()
        finally:
            raw.close()
        return row

    # --- what the consumer page shows besides the lot -------------------------------------

    def neighbours(self, lot_id: str) -> dict[str, Any]:
        """Lineage one step each way: ``up`` and ``down`` edges, and ``summaries`` of the lots they name."""
        with self._read() as conn:
            up = [e for _, e in lineage.edges(conn, lot_id, "up", max_depth=1)]
            down = [e for _, e in lineage.edges(conn, lot_id, "down", max_depth=1)]
            info = lineage.lot_summaries(conn, [e.input_lot for e in up] + [e.output_lot for e in down])
        return {"up": up, "down": down, "summaries": info}

    def signer_names(self, kids: set[str]) -> dict[str, str]:
        """The name of the organization of each key id (unknown key ids are left out)."""
        with self._read() as conn:
            keys = keys_by_id(conn, kids)
            org_ids = {int(k.org_id) for k in keys.values()}
            q = select(_org.c.id, _org.c.name).where(_org.c.id.in_(org_ids))
            names = {int(r.id): str(r.name) for r in conn.execute(q)}
        return {kid: names.get(int(k.org_id), kid) for kid, k in keys.items()}


def _anchors(
    conn: Connection, chain: ChainIds, explorer: str | None, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    q = select(_anchor).where(_anchor.c.status == "confirmed")
    if chain is not None:
        q = q.where(_anchor.c.chain_id == chain[0], _anchor.c.contract == chain[1])
    if before is not None:
        q = q.where(_anchor.c.tree_size < before)
    rows = conn.execute(q.order_by(_anchor.c.tree_size.desc()).limit(limit))
    return [anchor_json(r, explorer) for r in rows]


def _latest_anchor(conn: Connection, chain: ChainIds, explorer: str | None) -> dict[str, Any] | None:
    rows = _anchors(conn, chain, explorer, 1)
    return rows[0] if rows else None


def anchor_json(row: Any, explorer: str | None) -> dict[str, Any]:
    when = row.block_time.isoformat() if row.block_time else None
    if when and row.block_time.tzinfo is None:
        when += "+00:00"
    return {
        "tree_size": int(row.tree_size),
        "root": bytes(row.root).hex(),
        "chain_id": int(row.chain_id),
        "contract": str(row.contract),
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "block_time": when,
        "explorer_tx_url": explorer_tx_url(explorer, row.tx_hash),
    }


def entry_json(row: Any) -> dict[str, Any]:
    """A stored log row as the API shows it: index, seq, the signed entry, its leaf hash."""
    event = canonical.from_canonical(str(row.event).encode())
    stmt = statement_of(row._mapping, event)
    return {
        "index": int(row.idx),
        "seq": int(row.seq),
        "entry": canonical.entry(stmt, str(row.sig)),
        "leaf_hash": bytes(row.leaf_hash).hex(),
    }


def _plain(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
