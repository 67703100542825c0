"""What the routes use: the ledger, the chain (passed in or connected lazily), caches.

``Services`` is built by the app factory and hung on ``app.state``; nothing here runs at import.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, func, select

from api.config import ApiSettings
from ledger.core import bundle as bundle_mod
from ledger.core import canonical, gs1
from ledger.core.ports import explorer_tx_url
from ledger.core.verify import LotReport, statement_of
from ledger.errors import ConflictError, NotFound
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import bundle_data, lineage, shipments
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.keys import keys_by_id
from ledger.store.models import Anchor

log = logging.getLogger("ocop.api")
_anchor = Anchor.__table__  # type: ignore[attr-defined]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe LRU cache with an optional time to live."""

    def __init__(self, size: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or (self.ttl is not None and self.clock() - item[0] > self.ttl):
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class Services:
    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        api: ApiSettings,
        chain: Any = None,
        *,
        connect_chain: bool = True,
    ) -> None:
        self.ledger, self.settings, self.api = ledger, settings, api
        self._chain = chain
        self._connect = connect_chain and chain is None
        self._chain_error: str | None = None if chain is not None else "no chain configured"
        self._next_try = 0.0
        self._chain_lock = threading.Lock()
        self.verdicts: LRU[tuple[str, int, int], tuple[LotReport, bytes]] = LRU(
            api.verdict_cache_size, api.verdict_cache_ttl
        )
        self.qr: LRU[tuple[str, str, bool], bytes] = LRU(api.qr_cache_size)

    async def report_async(self, lot_id: str) -> tuple[LotReport, bytes]:
        """``report`` for async routes: cache hits stay on the event loop, misses go to a thread."""
        from starlette.concurrency import run_in_threadpool

        key, hit = self.cached_report(lot_id)
        if hit is not None:
            return hit
        return await run_in_threadpool(self.report, lot_id, key)

    # --- chain ----------------------------------------------------------------------------

    def chain(self) -> Any:
        """The read-only chain client, connected on first use (retried every 30 s on failure)."""
        if self._chain is not None or not self._connect:
            return self._chain
        with self._chain_lock:
            if self._chain is None and time.monotonic() >= self._next_try:
                from ledger.chain.devchain import connect
                from ledger.errors import AnchorError, ConfigError

                try:
                    self._chain = connect(self.settings, signer=False, timeout=5.0)
                    self._chain_error = None
                except (AnchorError, ConfigError) as exc:
                    self._chain_error = str(exc)
                    self._next_try = time.monotonic() + 30.0
                    log.warning("chain not available: %s", exc)
        return self._chain

    def anchor_check(self) -> Any:
        from ledger.chain.check import UnanchoredCheck, anchor_check_for

        chain = self.chain()
        if chain is None:
            return UnanchoredCheck("not_configured", self._chain_error or "no chain configured")
        return anchor_check_for(self.ledger, chain, self.settings.explorer_url)

    def chain_ids(self) -> tuple[int, str] | None:
        """(chain id, contract) of the chain once connected; never connects (runs on the event loop)."""
        chain = self._chain
        if chain is None:
            return None
        try:
            return int(chain.chain_id), str(chain.address)
        except Exception:  # an unreachable chain: anchors are then listed for every chain
            return None

    # --- anchors --------------------------------------------------------------------------

    def anchors_query(self, conn: Connection, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        q = select(_anchor).where(_anchor.c.status == "confirmed")
        ids = self.chain_ids()
        if ids is not None:
            q = q.where(_anchor.c.chain_id == ids[0], _anchor.c.contract == ids[1])
        if before is not None:
            q = q.where(_anchor.c.tree_size < before)
        rows = conn.execute(q.order_by(_anchor.c.tree_size.desc()).limit(limit))
        return [self.anchor_json(r) for r in rows]

    def latest_anchor(self, conn: Connection) -> dict[str, Any] | None:
        rows = self.anchors_query(conn, 1)
        return rows[0] if rows else None

    def anchor_counts(self, conn: Connection) -> dict[str, int]:
        q = select(_anchor.c.status, func.count()).group_by(_anchor.c.status)
        return {str(s): int(n) for s, n in conn.execute(q)}

    def anchor_json(self, row: Any) -> dict[str, Any]:
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
            "explorer_tx_url": self.explorer_tx(row.tx_hash),
        }

    def explorer_tx(self, tx_hash: str | None) -> str | None:
        return explorer_tx_url(self.settings.explorer_url, tx_hash)

    # --- verification ---------------------------------------------------------------------

    def log_size(self) -> int:
        """The log's size, from one statement on a raw DBAPI connection (cheap; for /healthz)."""
        raw = self.ledger.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT size FROM log_head WHERE id = 1")
            row: Any = cur.fetchone()
            cur.close()
        finally:
            raw.close()
        return int(row[0]) if row else 0

    def verdict_key(self, lot_id: str) -> tuple[str, int, int]:
        """(lot, log size, newest anchored size): a verdict stays valid while these stay the same.

        One statement on a raw DBAPI connection (about 10x cheaper than a SQLAlchemy transaction):
        this runs on every /verify and page request, on the event loop.
        """
        ph = "?" if self.ledger.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "SELECT (SELECT size FROM log_head WHERE id = 1), "
            "(SELECT max(tree_size) FROM anchor WHERE status = 'confirmed'"
        )
        params: tuple[Any, ...] = ()
        ids = self.chain_ids()
        if ids is not None:
            sql += f" AND chain_id = {ph} AND contract = {ph}"
            params = ids
        raw = self.ledger.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql + ")", params)
            row: Any = cur.fetchone()
            cur.close()
        finally:
            raw.close()
        return (lot_id, int(row[0] or 0), int(row[1] or 0))

    def cached_report(self, lot_id: str) -> tuple[tuple[str, int, int], tuple[LotReport, bytes] | None]:
        """Two small reads and a cache lookup: cheap enough to run on the event loop."""
        key = self.verdict_key(lot_id)
        return key, self.verdicts.get(key)

    def report(self, lot_id: str, key: tuple[str, int, int] | None = None) -> tuple[LotReport, bytes]:
        """The lot's verdict and its JSON, cached per (lot, log size, latest anchored size)."""
        key = key or self.verdict_key(lot_id)
        hit = self.verdicts.get(key)
        if hit is not None:
            return hit
        check = self.anchor_check()
        report = self.ledger.verify_lot(lot_id, check)
        if report.anchor is None and report.verdict != "not_found":
            report.anchor = dict(getattr(check, "info", None) or {})
        if report.anchor and report.anchor.get("tx_hash") and not report.anchor.get("explorer_tx_url"):
            report.anchor["explorer_tx_url"] = self.explorer_tx(report.anchor["tx_hash"])
        body = json.dumps(report.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        unreachable = isinstance(report.anchor, dict) and report.anchor.get("status") == "unreachable"
        if not unreachable:
            self.verdicts.put(key, (report, body))
        return report, body

    # --- lots -----------------------------------------------------------------------------

    def lot_json(self, lot_id: str) -> dict[str, Any]:
        """The lot, its product, its producer and its signed entries (not verified here)."""
        ledger = self.ledger
        lot = ledger.get_lot(lot_id)
        product = ledger.get_product(str(lot_id[:14]))
        with read_tx(ledger.engine) as conn:
            entries = [_entry_json(r) for r in store.lot_entries(conn, lot_id)]
        producer = ledger.get_org(int(lot["org_id"]))
        return {
            **{k: _plain(v) for k, v in lot.items() if k not in ("id", "product_id", "org_id", "created_at")},
            "gtin": lot_id[:14],
            "digital_link": gs1.digital_link(self.settings.public_url, lot_id[:14], str(lot["code"])),
            "head": {"seq": lot["last_seq"], "hash": lot["head_hash"]},
            "product": {k: _plain(v) for k, v in product.items() if k not in ("id", "created_at")},
            "producer": {k: producer[k] for k in ("id", "slug", "name", "kind", "province")},
            "entries": entries,
        }

    def bundle(self, lot_id: str) -> dict[str, Any]:
        """The lot's proof bundle against the newest confirmed anchor that covers all its entries:
        version 1 for a lot made from nothing else, version 2 (kind lot) with its upstream lots' chains."""
        return self._bundle([lot_id], None)

    def shipment_bundle(self, sscc: str) -> dict[str, Any]:
        """One version-2 bundle (kind shipment) of every lot in the shipment and every lot upstream of them."""
        with read_tx(self.ledger.engine) as conn:
            shipments.get_shipment(conn, sscc)  # 400 for a bad SSCC, 404 for an unknown one
            lots = [m.lot_id for m in shipments.members(conn, sscc)]
            agg = shipments.aggregation_entries(conn, sscc)
        if not lots:
            raise ConflictError(f"shipment {sscc} holds no lots: nothing to bundle")
        return self._bundle(lots, sscc, newest_aggregation=max(int(r.idx) for r, _ in agg))

    def _bundle(self, subjects: list[str], sscc: str | None, newest_aggregation: int = -1) -> dict[str, Any]:
        with read_tx(self.ledger.engine) as conn:
            anchor = self.latest_anchor(conn)
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
            assert anchor is not None
            frontier = list(subjects)
            while frontier:  # upstream lots, through transformations inside the anchored tree
                nxt = []
                for lot_id in frontier:
                    for _, edge in lineage.edges(conn, lot_id, "up", max_depth=1):
                        if edge.entry_idx < size and edge.input_lot not in chains:
                            rows = [r for r in store.lot_entries(conn, edge.input_lot) if int(r.idx) < size]
                            chains[edge.input_lot] = rows
                            nxt.append(edge.input_lot)
                frontier = nxt
            if v3 := bundle_data.v3_bundle(conn, subjects, sscc, anchor):  # the anchor commits the heads map
                return v3
            all_rows = [r for rows in chains.values() for r in rows]
            root = store.root_at(conn, size)
            proofs = {int(r.idx): store.inclusion_proof(conn, int(r.idx), size) for r in all_rows}
            keys = keys_by_id(conn, {str(r.signer) for r in all_rows})
        if root.hex() != anchor["root"]:
            raise ConflictError(f"the stored log disagrees with its anchor at size {size}: refusing to bundle")
        pubs = {kid: bytes(k.public_key) for kid, k in keys.items()}
        entries = {lot: [(int(r.idx), _entry_json(r)["entry"]) for r in rows] for lot, rows in chains.items()}
        if sscc is None and len(chains) == 1:
            lot_id = subjects[0]
            return bundle_mod.build_bundle(lot_id, entries[lot_id], pubs, size, root, proofs, anchor)
        kind, subject = ("lot", subjects[0]) if sscc is None else ("shipment", sscc)
        return bundle_mod.build_multi_bundle(
            kind, subject, list(entries.items()), pubs, size, root, proofs, anchor, members=subjects if sscc else ()
        )


def _entry_json(row: Any) -> dict[str, Any]:
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
