"""What the verifiers need from the chain: one ``ChainReader`` protocol, owned by the core.

The verifiers (``ledger.core.bundle_verify``, the anchor check in ``ledger.chain.check``, the
full-log audit and the outside monitor) read the anchoring contract through this interface and
nothing else. It is implemented by the web3 client (``ledger.chain.client.ChainClient``) and by
the dependency-free JSON-RPC reader for bundles (``ledger.chain.rpc.RpcChain``); tests pass stubs.

A reader is bound to one contract on one chain; ``at(address)`` gives a reader of another
contract on the same chain (a bundle names its contract, the verifier decides whether to trust it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AnchorTx:
    """What the chain says about a transaction: its block, success, and ``Anchored`` events in it."""

    block_number: int
    success: bool
    anchored: Sequence[tuple[str, int, bytes]]  # (emitting contract, tree size, root)


class ChainReader(Protocol):
    """Read-only view of one anchoring contract (``ProvenanceAnchor``) on one chain."""

    @property
    def chain_id(self) -> int:
        """The chain's id (EIP-155)."""
        ...

    @property
    def address(self) -> str:
        """The contract's address (``0x`` and 40 hex digits)."""
        ...

    def latest_tree_size(self) -> int:
        """The largest tree size anchored so far (0 when none)."""
        ...

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size``; 32 zero bytes when that size was never anchored."""
        ...

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        """The mined transaction's block, status and ``Anchored`` events; None if unknown."""
        ...

    def at(self, address: str) -> ChainReader:
        """A reader of the contract at ``address`` on the same chain."""
        ...


@runtime_checkable
class CodeReader(Protocol):
    """A chain reader that can tell whether its address holds contract code (an optional extra)."""

    def has_code(self) -> bool:
        """True when the address holds contract code (false for an account or a precompile)."""
        ...


def explorer_tx_url(explorer: str | None, tx_hash: str | None) -> str | None:
    """The block explorer's page of a transaction (``{explorer}/tx/{hash}``), or None without either."""
    if not explorer or not tx_hash:
        return None
    return f"{explorer.rstrip('/')}/tx/{tx_hash}"
