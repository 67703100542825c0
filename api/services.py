"""What the routes use: the ledger facade, the chain reader handed in, and the HTTP-side caches.

``Services`` is built by the app factory and hung on ``app.state``; nothing here runs at import.
Every read and write goes through the ``Ledger`` facade; this class only adds what is the web
server's business: the verdict, QR and API-key caches, the public URL and explorer from settings.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from api.config import ApiSettings
from ledger.core.ports import ChainReader, explorer_tx_url
from ledger.core.verify import AnchorCheck, LotReport
from ledger.service import ChainIds, Ledger, Principal, chain_ids, connect_chain
from ledger.service.console import PhotoStore, open_photo_store
from ledger.settings import Settings

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe LRU cache with an optional time to live."""

    def __init__(self, size: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: K, *, count: bool = True) -> V | None:
        """The value, or None if absent or older than the time to live; ``count=False`` leaves the
        hit and miss counts to the caller (``count_lookup``)."""
        with self._lock:
            item = self._data.get(key)
            if item is None or (self.ttl is not None and self.clock() - item[0] > self.ttl):
                self.misses += count
                return None
            self._data.move_to_end(key)
            self.hits += count
            return item[1]

    def count_lookup(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def replace(self, key: K, value: V) -> None:
        """Swap the value of a present key, keeping the time it was put (its time to live runs on)."""
        with self._lock:
            item = self._data.get(key)
            if item is not None:
                self._data[key] = (item[0], value)

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class KeyCache:
    """Verified API keys (by the SHA-256 of the token) → their principal, each for ``ttl`` seconds.

    Only keys that verified are kept (an unknown token is asked of the database every time), at
    most ``size`` of them; ``forget`` drops a key at once (its revocation through this process).
    """

    def __init__(self, ttl: float, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._data: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, digest: bytes) -> Principal | None:
        item = self._data.get(digest)
        if item is None:
            return None
        if self.clock() - item[0] >= self.ttl:
            with self._lock:
                self._data.pop(digest, None)
            return None
        return item[1]

    def put(self, digest: bytes, who: Principal) -> None:
        if self.ttl <= 0 or self.size <= 0:
            return
        with self._lock:
            if len(self._data) >= self.size:
                now = self.clock()
                self._data = {k: v for k, v in self._data.items() if now - v[0] < self.ttl}
                while len(self._data) >= self.size:  # all fresh: drop the oldest
                    del self._data[next(iter(self._data))]
            self._data[digest] = (self.clock(), who)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._data = {k: v for k, v in self._data.items() if v[1].key_id != key_id}


class Services:
    def __init__(self, ledger: Ledger, settings: Settings, api: ApiSettings, chain: ChainReader | None = None) -> None:
        self.ledger, self.settings, self.api = ledger, settings, api
        self._chain = chain
        # lot → (anchored size, log size it holds through, report, JSON): see ``cached_report``
        self.verdicts: LRU[str, tuple[int, int, LotReport, bytes]] = LRU(api.verdict_cache_size, api.verdict_cache_ttl)
        self.qr: LRU[tuple[str, str, bool], bytes] = LRU(api.qr_cache_size)
        self.keys = KeyCache(api.auth_cache_ttl)
        self._photos: PhotoStore | None = None
        self._photos_lock = threading.Lock()

    def photos(self) -> PhotoStore:
        """The one photo store of the app (files or an S3 bucket, by settings), built on first use."""
        with self._photos_lock:
            if self._photos is None:
                self._photos = open_photo_store(self.settings)
            return self._photos

    async def report_async(self, lot_id: str) -> tuple[LotReport, bytes]:
        """``report`` for async routes: cache hits stay on the event loop, misses go to a thread."""
        from starlette.concurrency import run_in_threadpool

        key, hit = self.cached_report(lot_id)
        if hit is not None:
            return hit
        return await run_in_threadpool(self.report, lot_id, key)

    # --- chain ----------------------------------------------------------------------------

    def chain(self) -> ChainReader | None:
        """The chain reader handed in by the composition root, connected now if it connects lazily."""
        return connect_chain(self._chain)

    def anchor_check(self) -> AnchorCheck:
        return self.ledger.anchor_check(self._chain, self.settings.explorer_url)

    def chain_ids(self) -> ChainIds:
        """(chain id, contract) of the chain once connected; never connects (runs on the event loop)."""
        return chain_ids(self._chain)

    def explorer_tx(self, tx_hash: str | None) -> str | None:
        return explorer_tx_url(self.settings.explorer_url, tx_hash)

    # --- reads that depend on the chain or the public URL --------------------------------

    def lot_json(self, lot_id: str) -> dict[str, Any]:
        """The lot, its product, its producer and its signed entries (not verified here)."""
        return self.ledger.lot_json(lot_id, self.settings.public_url)

    def bundle(self, lot_id: str) -> dict[str, Any]:
        return self.ledger.bundle(lot_id, self.chain_ids(), self.settings.explorer_url)

    def shipment_bundle(self, sscc: str) -> dict[str, Any]:
        return self.ledger.shipment_bundle(sscc, self.chain_ids(), self.settings.explorer_url)

    def log_size(self) -> int:
        """The log's size (cheap; for /healthz)."""
        return self.ledger.log_size()

    # --- verification ---------------------------------------------------------------------

    def verdict_key(self, lot_id: str) -> tuple[str, int, int]:
        """(lot, log size, newest anchored size): a verdict stays valid while these stay the same."""
        return self.ledger.verdict_key(lot_id, self.chain_ids())

    def cached_report(self, lot_id: str) -> tuple[tuple[str, int, int], tuple[LotReport, bytes] | None]:
        """One small read and a cache lookup: cheap enough to run on the event loop.

        A lot's cached verdict is served while the anchored size is the same and nothing it reads was
        appended since it was computed: appends to other lots leave it standing (it tells the tree
        size it was computed at), the lot's own entries and every v2 entry (keys, organizations,
        products, attestations, heads) make it be computed again (``Ledger.verdict_state``). Edits
        that bypass the log are caught when the entry's time to live runs out, as before.
        """
        prior = self.verdicts.get(lot_id, count=False)
        size, anchored, grown = self.ledger.verdict_state(lot_id, self.chain_ids(), prior[1] if prior else None)
        key = (lot_id, size, anchored)
        if prior is not None and prior[0] == anchored and not grown:
            if prior[1] != size:
                self.verdicts.replace(lot_id, (anchored, size, prior[2], prior[3]))
            self.verdicts.count_lookup(True)
            return key, (prior[2], prior[3])
        self.verdicts.count_lookup(False)
        return key, None

    def report(self, lot_id: str, key: tuple[str, int, int] | None = None) -> tuple[LotReport, bytes]:
        """The lot's verdict and its JSON, from the cache where ``cached_report`` finds it still holds."""
        if key is None:
            key, hit = self.cached_report(lot_id)
            if hit is not None:
                return hit
        prior = self.verdicts.get(lot_id, count=False)  # another request may have computed it meanwhile
        if prior is not None and prior[0] == key[2] and prior[1] >= key[1]:
            return prior[2], prior[3]
        check = self.anchor_check()
        report = self.ledger.verify_lot(lot_id, check)
        if report.anchor is None and report.verdict != "not_found":
            report.anchor = dict(getattr(check, "info", None) or {})
        if report.anchor and report.anchor.get("tx_hash") and not report.anchor.get("explorer_tx_url"):
            report.anchor["explorer_tx_url"] = self.explorer_tx(report.anchor["tx_hash"])
        body = json.dumps(report.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        unreachable = isinstance(report.anchor, dict) and report.anchor.get("status") == "unreachable"
        if not unreachable:  # it holds through the size it was computed at, which may be past key's
            self.verdicts.put(lot_id, (key[2], report.tree_size, report, body))
        return report, body
