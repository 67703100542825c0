"""Stored anchors: the ``anchor`` rows the anchor worker confirmed, as plain values.

Read by the exports (the certificate's anchor) and the audit (checked against the chain there);
the worker (``ledger.chain.worker``) writes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect, select

from ledger.store.models import Anchor

_anchor = Anchor.__table__  # type: ignore[attr-defined]


def confirmed_anchors(conn: Connection) -> list[dict[str, Any]]:
    """Confirmed anchors, oldest first; [] if none (or before the ``anchor`` table exists)."""
    if not inspect(conn).has_table("anchor"):
        return []
    rows = conn.execute(select(_anchor).where(_anchor.c.status == "confirmed").order_by(_anchor.c.tree_size))
    return [
        {
            "tree_size": int(r.tree_size),
            "root": bytes(r.root).hex(),
            "chain_id": int(r.chain_id),
            "contract": r.contract,
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
        }
        for r in rows
    ]


def covering_anchor(conn: Connection, last_index: int) -> dict[str, Any] | None:
    """The first confirmed anchor whose tree covers log index ``last_index``."""
    return next((a for a in confirmed_anchors(conn) if a["tree_size"] > last_index), None)
