"""The chain side of bundle verification: ``anchor``, ``anchor_tx`` and ``latest`` (all bundle versions).

Which failures are whose (``docs/bundle.md`` "Verdicts"):

* ``unverifiable`` (``UnverifiableError``, exit 3): the bundle's contract or chain id is not the
  pinned one (``--contract`` or ``--trust``); the RPC serves another chain; the address is a
  precompile or reserved address (below ``0x…010000``) or holds no code; the chain cannot answer.
  Nothing is then said about the data: a verifier pointed at the wrong chain never says tampered.
* ``tampered`` (``VerificationError``): the trusted contract on the trusted chain does not hold the
  bundle's root at its size, or the named transaction did not anchor it in the named block.
* ``latest``: the bundle's tree size is the contract's ``latestTreeSize()``; informational unless
  the caller requires it (``--require-latest``).

Pure apart from the ``ChainReader`` handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.core.ports import ChainReader, CodeReader
from ledger.core.trust import Trust
from ledger.errors import InputError, UnverifiableError, VerificationError

ZERO_ROOT = bytes(32)
PRECOMPILE_LIMIT = 0x10000
"""Addresses below this are precompiles or reserved for them (0x01-0x11 on prague, 0x100 on some L2s)."""


def pinned_contract(contract: str | None, trust: Trust | None) -> str | None:
    """The contract the caller trusts; ``--contract`` and ``--trust`` must agree when both are given."""
    if contract is not None and trust is not None and contract.lower() != trust.contract.lower():
        raise InputError(f"--contract {contract} disagrees with the trusted contract {trust.contract} ({trust.source})")
    return contract if contract is not None else (trust.contract if trust is not None else None)


def check_anchor(
    size: int, root: bytes, anchor: Mapping[str, Any], chain: ChainReader, pinned: str | None, trust: Trust | None
) -> ChainReader:
    """The contract the bundle names, on the chain it names, holds ``root`` at ``size``; returns its reader."""
    address, chain_id = str(anchor["contract"]), int(anchor["chain_id"])
    if pinned is not None and pinned.lower() != address.lower():
        raise UnverifiableError(
            f"the bundle's contract is not the trusted one: expected {pinned}, got {address}",
            expected=pinned,
            found=address,
        )
    if trust is not None and trust.chain_id != chain_id:
        raise UnverifiableError(
            f"the bundle is anchored on another chain: expected chain id {trust.chain_id}, got {chain_id}",
            expected=trust.chain_id,
            found=chain_id,
        )
    reader = _contract_reader(chain, address, chain_id)
    onchain = reader.root_at(size)
    if onchain == ZERO_ROOT:
        _tampered(f"the contract holds no root for tree size {size}", root.hex(), None)
    if onchain != root:
        _tampered(f"root on chain differs at size {size}: expected {root.hex()}, got {onchain.hex()}", root, onchain)
    return reader


def _contract_reader(chain: ChainReader, address: str, chain_id: int) -> ChainReader:
    """A reader of ``address``, after checking that it is a contract on the chain the bundle names."""
    if int(address, 16) < PRECOMPILE_LIMIT:
        raise UnverifiableError(f"anchor contract {address} is a precompile or reserved address, not a contract")
    reader = chain.at(address)
    got = reader.chain_id
    if got != chain_id:
        raise UnverifiableError(
            f"the RPC serves another chain: expected chain id {chain_id}, got {got} (ask an RPC of chain {chain_id})",
            expected=chain_id,
            found=got,
        )
    if isinstance(reader, CodeReader) and not reader.has_code():
        raise UnverifiableError(f"no contract code at {address} on chain {chain_id}")
    return reader


def check_anchor_tx(size: int, root: bytes, anchor: Mapping[str, Any], reader: ChainReader) -> None:
    """The named transaction was mined in the named block and emitted ``Anchored(size, root)`` from the contract."""
    tx_hash, address = str(anchor["tx_hash"]), str(anchor["contract"])
    tx = reader.anchor_tx(tx_hash)
    if tx is None or not tx.success:
        raise VerificationError(f"transaction {tx_hash} is not a successful mined transaction", check="anchor_tx")
    if tx.block_number != anchor["block_number"]:
        raise VerificationError(
            f"anchor transaction block differs: expected {anchor['block_number']}, got {tx.block_number}",
            check="anchor_tx",
            expected=anchor["block_number"],
            found=tx.block_number,
        )
    if not any(c.lower() == address.lower() and s == size and r == root for c, s, r in tx.anchored):
        raise VerificationError(f"transaction {tx_hash} did not anchor size {size} on {address}", check="anchor_tx")


def check_latest(size: int, reader: ChainReader, required: bool) -> bool:
    """Whether ``size`` is the contract's latest anchored size; a failure only when ``required``."""
    latest = reader.latest_tree_size()
    if latest != size and required:
        raise VerificationError(
            f"the bundle is stale: its anchor is at tree size {size}, the contract's latest is {latest} "
            "(newer history may exist; fetch a fresh bundle)",
            check="latest",
            expected=latest,
            found=size,
        )
    return latest == size


def _tampered(message: str, expected: Any, found: Any) -> None:
    if isinstance(expected, bytes):
        expected, found = expected.hex(), found.hex() if isinstance(found, bytes) else found
    raise VerificationError(message, check="anchor", expected=expected, found=found)
