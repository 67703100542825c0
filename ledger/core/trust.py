"""The operator's trust roots: the chain id, the anchoring contract and the log key a verifier pins.

The operator publishes them at ``GET /.well-known/ocop-ledger.json``::

    {"chain_id": 31337, "contract": "0x…", "log_key": {"key_id": "ed25519:…", "public_key": "<base64>"},
     "bundle_versions": [1, 2, 3], "explorer_url": "https://…" (optional)}

``verify-bundle --trust FILE|URL`` reads that document with ``trust_from_json``; a bundle whose
chain, contract or log key differs is then ``unverifiable`` (exit 3), never ``tampered``.
Pure: a parsed JSON value in, a ``Trust`` out; ``InputError`` for a document that is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ledger.core import signing
from ledger.errors import InputError

REQUIRED = frozenset({"chain_id", "contract", "log_key", "bundle_versions"})
OPTIONAL = frozenset({"explorer_url"})
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class Trust:
    chain_id: int
    contract: str
    log_key_id: str | None
    log_public_key: bytes | None
    source: str = "pinned"

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "log_key_id": self.log_key_id,
            "source": self.source,
        }


def trust_from_json(doc: Any, source: str) -> Trust:
    """The trust roots of a well-known document (``source`` names where it was read, for the report)."""
    if not isinstance(doc, dict):
        raise InputError(f"{source}: expected the JSON object of /.well-known/ocop-ledger.json")
    missing, extra = sorted(REQUIRED - set(doc)), sorted(set(doc) - REQUIRED - OPTIONAL)
    if missing or extra:
        raise InputError(
            f"{source}: expected fields {sorted(REQUIRED)} (+ explorer_url), missing {missing}, unknown {extra}"
        )
    chain_id, contract = doc["chain_id"], doc["contract"]
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
        raise InputError(f"{source}: chain_id must be a positive integer, got {chain_id!r}")
    if not isinstance(contract, str) or not _ADDRESS.fullmatch(contract):
        raise InputError(f"{source}: contract must be a 0x address, got {contract!r}")
    kid, pub = _log_key(doc["log_key"], source)
    return Trust(chain_id, contract, kid, pub, source)


def _log_key(raw: Any, source: str) -> tuple[str | None, bytes | None]:
    """The log key (``null`` before the operator has one); its public key must hash to its id."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or set(raw) != {"key_id", "public_key"} or not isinstance(raw["public_key"], str):
        raise InputError(f"{source}: log_key must be {{'key_id', 'public_key'}}, got {raw!r}")
    pub = signing.decode_b64(raw["public_key"], "log_key.public_key")
    if signing.key_id(pub) != raw["key_id"]:
        raise InputError(f"{source}: log_key.public_key does not hash to {raw['key_id']}: got {signing.key_id(pub)}")
    return str(raw["key_id"]), pub
