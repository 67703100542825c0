"""Building proof bundles (versions 1 and 2) from plain values; the format is ``docs/bundle.md``."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.errors import InputError

FORMAT = "ocop-ledger-bundle"
VERSION = 1
VERSION_MULTI = 2
KINDS = ("lot", "shipment")

Chain = Sequence[tuple[int, Mapping[str, Any]]]
"""One lot's entries as (log index, entry), from seq 0 in log order."""


def build_bundle(
    lot: str,
    entries: Chain,
    public_keys: Mapping[str, bytes],
    tree_size: int,
    root: bytes,
    proofs: Mapping[int, Sequence[bytes]],
    anchor: Mapping[str, Any],
) -> dict[str, Any]:
    """A version-1 bundle: ``entries`` are (log index, entry) in log order; ``anchor`` has
    ``chain_id``, ``contract``, ``tx_hash`` and ``block_number`` of the anchor at ``tree_size``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "lot": lot,
        "entries": _entries_json(entries, proofs),
        "keys": _keys_json([entries], public_keys),
        "tree_head": {"size": tree_size, "root": root.hex()},
        "anchor": _anchor_json(anchor),
    }


def build_multi_bundle(
    kind: str,
    subject: str,
    chains: Sequence[tuple[str, Chain]],
    public_keys: Mapping[str, bytes],
    tree_size: int,
    root: bytes,
    proofs: Mapping[int, Sequence[bytes]],
    anchor: Mapping[str, Any],
    members: Sequence[str] = (),
) -> dict[str, Any]:
    """A version-2 bundle. ``kind`` "lot": ``subject`` is the lot id; "shipment": ``subject`` is
    the SSCC and ``members`` the lots in it. ``chains`` are (lot id, [(log index, entry), ...]):
    the subject lot(s) first, then the upstream input lots, each chain from seq 0 in log order."""
    if kind not in KINDS:
        raise InputError(f"kind: expected one of {KINDS}, got {kind!r}", field="kind")
    head: dict[str, Any] = {"format": FORMAT, "version": VERSION_MULTI, "kind": kind}
    if kind == "lot":
        head["lot"] = subject
    else:
        head |= {"sscc": subject, "lots": list(members)}
    return head | {
        "chains": [{"lot": lot, "entries": _entries_json(ents, proofs)} for lot, ents in chains],
        "keys": _keys_json([ents for _, ents in chains], public_keys),
        "tree_head": {"size": tree_size, "root": root.hex()},
        "anchor": _anchor_json(anchor),
    }


def _entries_json(entries: Chain, proofs: Mapping[int, Sequence[bytes]]) -> list[dict[str, Any]]:
    return [{"index": idx, "entry": dict(ent), "proof": [h.hex() for h in proofs[idx]]} for idx, ent in entries]


def _keys_json(chains: Sequence[Chain], public_keys: Mapping[str, bytes]) -> list[dict[str, str]]:
    used = sorted({str(e["signer"]) for ents in chains for _, e in ents})
    return [{"key_id": kid, "public_key": base64.b64encode(public_keys[kid]).decode()} for kid in used]


def _anchor_json(anchor: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "chain_id": int(anchor["chain_id"]),
        "contract": str(anchor["contract"]),
        "tx_hash": str(anchor["tx_hash"]),
        "block_number": int(anchor["block_number"]),
    }
