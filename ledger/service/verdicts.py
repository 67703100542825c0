"""The chain as verdicts see it, through the facade: the anchor check that trusts the chain (never
the database), and which chain the anchors are listed for. The chain reader is handed in by the
composition root; a ``LazyChainReader`` is asked without connecting where that must stay cheap."""

from __future__ import annotations

from typing import Any

from ledger.chain.check import UnanchoredCheck, anchor_check_for
from ledger.chain.lazy import LazyChainReader
from ledger.core.ports import ChainReader
from ledger.core.verify import AnchorCheck
from ledger.service.admin import Admin


class Verdicts(Admin):
    def anchor_check(self, chain: ChainReader | None, explorer_url: str | None = None) -> AnchorCheck:
        """The check verdicts use: against ``chain``'s newest anchor, or every entry ``pending`` (with
        the reason in ``info``) when there is no chain or it cannot be connected."""
        reader = connect_chain(chain)
        if reader is None:
            error = getattr(chain, "error", None) or "no chain configured"
            return UnanchoredCheck("not_configured", error)
        return anchor_check_for(self, reader, explorer_url)


def connect_chain(chain: ChainReader | None) -> ChainReader | None:
    """The reader, connected now if it connects lazily (None while it cannot)."""
    return chain.get() if isinstance(chain, LazyChainReader) else chain


def chain_ids(chain: ChainReader | None) -> tuple[int, str] | None:
    """(chain id, contract) of the chain once connected; never connects (runs on the event loop)."""
    reader: Any = chain.current() if isinstance(chain, LazyChainReader) else chain
    if reader is None:
        return None
    try:
        return int(reader.chain_id), str(reader.address)
    except Exception:  # an unreachable chain: anchors are then listed for every chain
        return None
