"""The lazily connecting chain reader the composition root hands the API: it connects on first use,
not at construction, and after a failure waits its pause before trying again."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain.lazy import LazyChainReader
from ledger.core.ports import AnchorTx
from ledger.errors import AnchorError, ConfigError


class StubReader:
    chain_id = 31337
    address = "0x" + "ab" * 20

    def latest_tree_size(self) -> int:
        return 7

    def root_at(self, size: int) -> bytes:
        return bytes([size]) * 32

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        return None

    def at(self, address: str) -> Any:
        return self


class Connector:
    """Fails ``failures`` times (as ``devchain.connect`` does for a chain that is down), then connects."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> StubReader:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConfigError(f"no contract known on chain 31337 (try {self.calls})")
        return StubReader()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_connects_until_first_use() -> None:
    connect = Connector(0)
    reader = LazyChainReader(connect)
    assert connect.calls == 0 and reader.current() is None
    assert reader.latest_tree_size() == 7
    assert (reader.chain_id, reader.root_at(2)) == (31337, b"\x02" * 32)
    assert connect.calls == 1 and reader.current() is not None


def test_a_failed_connection_is_retried_only_after_the_pause() -> None:
    connect, clock = Connector(1), Clock()
    reader = LazyChainReader(connect, retry_after=30.0, clock=clock)
    with pytest.raises(AnchorError, match="the chain is not available: no contract known on chain 31337 \\(try 1\\)"):
        reader.latest_tree_size()
    assert reader.error == "no contract known on chain 31337 (try 1)"
    clock.now += 29.0
    assert reader.get() is None and connect.calls == 1  # still pausing: no second attempt
    clock.now += 1.0
    assert reader.get() is not None and connect.calls == 2
    assert reader.error is None and reader.address == "0x" + "ab" * 20


def test_current_never_connects() -> None:
    connect = Connector(0)
    reader = LazyChainReader(connect)
    assert reader.current() is None and reader.current() is None
    assert connect.calls == 0
