"""The chain port's one shared helper: the explorer link of a transaction."""

from __future__ import annotations

import pytest

from ledger.core.ports import explorer_tx_url


@pytest.mark.parametrize(
    ("base", "tx", "want"),
    [
        ("https://sepolia.etherscan.io/", "0xab", "https://sepolia.etherscan.io/tx/0xab"),
        ("https://sepolia.etherscan.io", "0xab", "https://sepolia.etherscan.io/tx/0xab"),
        (None, "0xab", None),
        ("", "0xab", None),
        ("https://sepolia.etherscan.io", None, None),
    ],
)
def test_explorer_tx_url(base: str | None, tx: str | None, want: str | None) -> None:
    assert explorer_tx_url(base, tx) == want
