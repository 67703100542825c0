"""A ``ChainReader`` that connects on first use and retries a failed connection after a pause.

The composition roots hand it to the API app when the chain may not be up yet (the chain reader of
``uvicorn --factory ledger.cli.wiring:create_app_from_env``): the app starts at once, verdicts say
``pending`` until the chain answers, and nothing connects at import time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ledger.core.ports import AnchorTx, ChainReader
from ledger.errors import AnchorError, ConfigError

log = logging.getLogger("ocop.chain")


class LazyChainReader:
    """Connects with ``connect()`` on first use; after a failure, tries again ``retry_after`` seconds later."""

    def __init__(
        self,
        connect: Callable[[], ChainReader],
        *,
        retry_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect, self._retry_after, self._clock = connect, retry_after, clock
        self._reader: ChainReader | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()
        self.error: str | None = None

    def current(self) -> ChainReader | None:
        """The connected reader, or None: never connects (cheap enough for the event loop)."""
        return self._reader

    def get(self) -> ChainReader | None:
        """The connected reader, connecting now unless the last failure is too recent."""
        if self._reader is not None:
            return self._reader
        with self._lock:
            if self._reader is None and self._clock() >= self._next_try:
                try:
                    self._reader = self._connect()
                    self.error = None
                except (AnchorError, ConfigError) as exc:
                    self.error = str(exc)
                    self._next_try = self._clock() + self._retry_after
                    log.warning("chain not available: %s", exc)
        return self._reader

    def _require(self) -> ChainReader:
        reader = self.get()
        if reader is None:
            raise AnchorError(f"the chain is not available: {self.error or 'not connected yet'}")
        return reader

    @property
    def chain_id(self) -> int:
        return self._require().chain_id

    @property
    def address(self) -> str:
        return self._require().address

    def latest_tree_size(self) -> int:
        return self._require().latest_tree_size()

    def root_at(self, size: int) -> bytes:
        return self._require().root_at(size)

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        return self._require().anchor_tx(tx_hash)

    def at(self, address: str) -> ChainReader:
        return self._require().at(address)
