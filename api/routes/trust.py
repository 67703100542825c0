"""The operator's trust roots: ``GET /.well-known/ocop-ledger.json`` (issue 11, g-spec §4).

``{"chain_id", "contract", "log_key": {"key_id", "public_key"}, "bundle_versions": [1, 2, 3],
"explorer_url"?}``: what ``verify-bundle --trust FILE|URL`` pins. The chain fields come from the
settings, else from the connected chain (null while none is known); the log key from the ledger.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Svc

router = APIRouter(tags=["log"])
BUNDLE_VERSIONS = [1, 2, 3]


@router.get("/.well-known/ocop-ledger.json")
def trust_roots(svc: Svc) -> dict[str, Any]:
    """Chain id, contract address and log public key that every verdict of this operator is checked against."""
    chain_id, contract = svc.settings.chain_id, svc.settings.contract_address
    if chain_id is None or contract is None:
        known = svc.chain_ids()
        if known is not None:
            chain_id, contract = chain_id or known[0], contract or known[1]
    out: dict[str, Any] = {
        "chain_id": chain_id,
        "contract": contract,
        "log_key": svc.ledger.trust_roots(),
        "bundle_versions": BUNDLE_VERSIONS,
    }
    if svc.settings.explorer_url:
        out["explorer_url"] = svc.settings.explorer_url
    return out
