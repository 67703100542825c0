"""Verification against the chain: an entry is anchored when the contract says so.

``anchor_check_for`` builds the ``AnchorCheck`` (see ``ledger.core.verify``) that trusts the CHAIN, not
the database: S = the contract's ``latestTreeSize()``, R = ``rootAt(S)``; an entry with index < S
is anchored when its inclusion proof at size S, built from the store, leads to R; a newer one is
``pending``. A chain size larger than the local log means the local log was truncated: every
entry then fails the anchor check. An unreachable chain gives ``pending``, never an exception.
The chain client is handed in: the composition roots (the CLI, the API app) build it from settings.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import Engine, select

from ledger.chain.client import ZERO_ROOT
from ledger.core import merkle
from ledger.core.ports import ChainReader, explorer_tx_url
from ledger.errors import AnchorError, RootMismatchError, VerificationError
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.models import Anchor

_anchor = Anchor.__table__  # type: ignore[attr-defined]


class ChainAnchorCheck:
    """An ``AnchorCheck`` against the contract's latest anchor (size ``size``, root ``root``).

    ``info`` describes the anchor used; verification copies it into ``LotReport.anchor``.
    """

    def __init__(
        self, engine: Engine, size: int, root: bytes, info: dict[str, Any], problem: str | None = None
    ) -> None:
        self.engine, self.size, self.root, self.info, self.problem = engine, size, root, info, problem

    def __call__(self, index: int, leaf: bytes) -> str:
        if self.problem:
            raise VerificationError(self.problem, check="anchor", index=index)
        if index >= self.size:
            return "pending"
        with read_tx(self.engine) as conn:
            proof = store.inclusion_proof(conn, index, self.size)
        try:
            got = merkle.root_from_inclusion_proof(leaf, index, self.size, proof)
        except VerificationError as exc:
            raise VerificationError(
                f"no valid inclusion proof at anchored tree size {self.size}: {exc}", check="anchor", index=index
            ) from exc
        if got != self.root:
            raise RootMismatchError(
                f"entry at log index {index} is not in the anchored log of size {self.size}: "
                f"expected root {self.root.hex()} from chain, got {got.hex()}",
                check="anchor",
                index=index,
                expected=self.root.hex(),
                found=got.hex(),
            )
        return "ok"


class UnanchoredCheck:
    """The chain cannot be asked: every entry is ``pending`` and ``info`` says why."""

    def __init__(self, status: str, error: str) -> None:
        self.info: dict[str, Any] = {"status": status, "error": error}

    def __call__(self, index: int, leaf: bytes) -> str:
        return "pending"


def anchor_check_for(
    ledger: Any, chain: ChainReader, explorer_url: str | None = None
) -> ChainAnchorCheck | UnanchoredCheck:
    """The anchor check for verifying lots of ``ledger``, trusting ``chain`` rather than the database.

    The caller builds the (read-only) chain client; a chain that cannot answer gives a check that
    says ``pending`` for everything, never an exception. ``explorer_url`` (``LEDGER_EXPLORER_URL``)
    adds a link to the anchor's transaction.
    """
    try:
        size = chain.latest_tree_size()
        root = chain.root_at(size) if size else ZERO_ROOT
        info: dict[str, Any] = {
            "status": "anchored" if size else "none",
            "chain_id": chain.chain_id,
            "contract": chain.address,
        }
    except AnchorError as exc:
        return UnanchoredCheck("unreachable", str(exc))
    info |= {"tree_size": size, "root": root.hex(), "tx_hash": None, "block_number": None, "block_time": None}
    engine: Engine = ledger.engine
    with read_tx(engine) as conn:
        local = store.read_head(conn).size
        row = conn.execute(
            select(_anchor).where(
                _anchor.c.chain_id == chain.chain_id, _anchor.c.contract == chain.address, _anchor.c.tree_size == size
            )
        ).first()
    if row is not None:
        when = row.block_time.replace(tzinfo=UTC).isoformat() if row.block_time else None
        info |= {"tx_hash": row.tx_hash, "block_number": row.block_number, "block_time": when}
    if url := explorer_tx_url(explorer_url, info["tx_hash"]):
        info["explorer_tx_url"] = url
    problem = None
    if size > local:
        problem = (
            f"the chain has anchored tree size {size} but the local log has only {local} entries: "
            "the local log was truncated"
        )
    return ChainAnchorCheck(engine, size, root, info, problem)
