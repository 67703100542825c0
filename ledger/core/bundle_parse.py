"""Reading a proof bundle into checked plain values: the ``format`` check of ``docs/bundle.md``.

``parse`` raises ``VerificationError`` with ``check`` "format" and a message naming the field,
what was expected and what was found.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from ledger.core import canonical
from ledger.core.bundle_build import FORMAT, KINDS, VERSION, VERSION_MULTI
from ledger.errors import VerificationError

_SSCC = re.compile(r"[0-9]{18}")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX = re.compile(r"0x[0-9a-f]{64}")

Entries = list[tuple[int, dict[str, Any], list[bytes]]]
"""One chain's entries as (log index, entry, inclusion proof)."""


@dataclass
class Parsed:
    version: int
    kind: str
    lot: str | None  # kind lot: the subject lot
    sscc: str | None  # kind shipment
    members: list[str]  # kind shipment: the lots in it
    chains: list[tuple[str, Entries]]
    keys: dict[str, bytes]
    size: int
    root: bytes
    anchor: dict[str, Any]


def need(cond: bool, message: str) -> None:
    """A ``format`` failure unless ``cond``."""
    if not cond:
        raise VerificationError(message, check="format")


FIELDS = {
    (VERSION, "lot"): frozenset({"format", "version", "lot", "entries", "keys", "tree_head", "anchor"}),
    (VERSION_MULTI, "lot"): frozenset({"format", "version", "kind", "lot", "chains", "keys", "tree_head", "anchor"}),
    (VERSION_MULTI, "shipment"): frozenset(
        {"format", "version", "kind", "sscc", "lots", "chains", "keys", "tree_head", "anchor"}
    ),
}
"""The fields a bundle of each (version, kind) has: no other is allowed (unsigned extras are refused)."""
TREE_HEAD_FIELDS = frozenset({"size", "root"})
ANCHOR_FIELDS = frozenset({"chain_id", "contract", "tx_hash", "block_number"})
KEY_FIELDS = frozenset({"key_id", "public_key"})
CHAIN_FIELDS = frozenset({"lot", "entries"})
ITEM_FIELDS = frozenset({"index", "entry", "proof"})


def only(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    """A ``format`` failure naming the first field of ``obj`` that is not in ``allowed``."""
    extra = sorted(set(obj) - allowed)
    if extra:
        raise VerificationError(f"{where}: unknown field {extra[0]!r}: expected only {sorted(allowed)}", check="format")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse(b: Any) -> Parsed:
    """The bundle's fields, each checked for type and shape (not yet for truth)."""
    need(isinstance(b, dict), f"a bundle is a JSON object, got {type(b).__name__}")
    need("unparseable" not in b, f"the file is not valid JSON: {b.get('unparseable', '')}")
    version, kind = _parse_version(b)
    only(b, FIELDS[version, kind], "bundle")
    sscc, members = _parse_subject(b, kind)
    size, root = _parse_tree_head(b.get("tree_head"))
    anchor = _parse_anchor(b.get("anchor"))
    keys = _parse_keys(b.get("keys"))
    chains = _parse_chains(b, version)
    lot = b.get("lot") if kind == "lot" else None
    return Parsed(version, kind, lot, sscc, members, chains, keys, size, root, anchor)


def _parse_version(b: dict[str, Any]) -> tuple[int, str]:
    need(b.get("format") == FORMAT, f"format: expected {FORMAT!r}, got {b.get('format')!r}")
    version = b.get("version")
    need(
        version in (VERSION, VERSION_MULTI) and is_int(version),
        f"version: expected {VERSION} or {VERSION_MULTI}, got {version!r}",
    )
    if version == VERSION:
        return VERSION, "lot"
    need(b.get("kind") in KINDS, f"kind: expected one of {list(KINDS)}, got {b.get('kind')!r}")
    return VERSION_MULTI, str(b["kind"])


def _parse_subject(b: dict[str, Any], kind: str) -> tuple[str | None, list[str]]:
    """(sscc, member lots) of a shipment; (None, []) for a lot, whose id is checked."""
    if kind == "lot":
        need(isinstance(b.get("lot"), str) and bool(b["lot"]), "lot: expected a lot id")
        return None, []
    sscc = b.get("sscc")
    need(
        isinstance(sscc, str) and bool(_SSCC.fullmatch(sscc)) and sscc_ok(sscc),
        f"sscc: expected 18 digits with a valid check digit, got {sscc!r}",
    )
    lots: Any = b.get("lots")
    need(
        isinstance(lots, list) and bool(lots) and all(isinstance(x, str) and x for x in lots),
        "lots: expected a non-empty list of lot ids",
    )
    need(len(set(lots)) == len(lots), "lots: a lot is listed twice")
    return str(sscc), list(lots)


def _parse_tree_head(head: Any) -> tuple[int, bytes]:
    need(isinstance(head, dict), "tree_head: expected an object")
    only(head, TREE_HEAD_FIELDS, "tree_head")
    need(
        is_int(head.get("size")) and head["size"] > 0,
        f"tree_head.size: expected a positive integer, got {head.get('size')!r}",
    )
    need(
        isinstance(head.get("root"), str) and bool(_HEX32.fullmatch(head["root"])),
        "tree_head.root: expected 64 hex digits",
    )
    return int(head["size"]), bytes.fromhex(head["root"])


def _parse_anchor(anchor: Any) -> dict[str, Any]:
    need(isinstance(anchor, dict), "anchor: expected an object")
    only(anchor, ANCHOR_FIELDS, "anchor")
    need(is_int(anchor.get("chain_id")) and anchor["chain_id"] > 0, "anchor.chain_id: expected a positive integer")
    need(
        isinstance(anchor.get("contract"), str) and bool(_ADDRESS.fullmatch(anchor["contract"])),
        f"anchor.contract: expected a 0x address, got {anchor.get('contract')!r}",
    )
    need(
        isinstance(anchor.get("tx_hash"), str) and bool(_TX.fullmatch(anchor["tx_hash"])),
        f"anchor.tx_hash: expected 0x and 64 hex digits, got {anchor.get('tx_hash')!r}",
    )
    need(
        is_int(anchor.get("block_number")) and anchor["block_number"] >= 0,
        f"anchor.block_number: expected an integer, got {anchor.get('block_number')!r}",
    )
    return dict(anchor)


def _parse_keys(raw: Any) -> dict[str, bytes]:
    need(isinstance(raw, list), "keys: expected a list")
    keys: dict[str, bytes] = {}
    for i, k in enumerate(raw):
        need(isinstance(k, dict) and isinstance(k.get("key_id"), str), f"keys.{i}.key_id: expected a string")
        only(k, KEY_FIELDS, f"keys.{i}")
        need(k["key_id"] not in keys, f"keys.{i}: key {k['key_id']} is listed twice")
        text = str(k.get("public_key"))
        try:
            keys[k["key_id"]] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError(f"keys.{i}.public_key: expected base64", check="format") from None
        # one encoding per key: unused padding bits must be zero (b64decode ignores them)
        need(base64.b64encode(keys[k["key_id"]]).decode() == text, f"keys.{i}.public_key: not canonical base64")
    return keys


def _parse_chains(b: dict[str, Any], version: int) -> list[tuple[str, Entries]]:
    if version == VERSION:
        return [(b["lot"], _parse_entries(b.get("entries"), "entries"))]
    raw: Any = b.get("chains")
    need(isinstance(raw, list) and len(raw) > 0, "chains: expected a non-empty list")
    chains: list[tuple[str, Entries]] = []
    for n, c in enumerate(raw):
        need(
            isinstance(c, dict) and isinstance(c.get("lot"), str) and bool(c["lot"]),
            f"chains.{n}.lot: expected a lot id",
        )
        only(c, CHAIN_FIELDS, f"chains.{n}")
        need(all(c["lot"] != seen for seen, _ in chains), f"chains.{n}.lot: lot {c['lot']} has two chains")
        chains.append((c["lot"], _parse_entries(c.get("entries"), f"chains.{n}.entries")))
    return chains


def _parse_entries(raw: Any, where: str) -> Entries:
    entries: Entries = []
    need(isinstance(raw, list) and len(raw) > 0, f"{where}: expected a non-empty list")
    for i, e in enumerate(raw):
        need(isinstance(e, dict) and is_int(e.get("index")), f"{where}.{i}.index: expected an integer")
        only(e, ITEM_FIELDS, f"{where}.{i}")
        need(isinstance(e.get("entry"), dict), f"{where}.{i}.entry: expected an object")
        need(set(e["entry"]) == canonical.ENTRY_KEYS, f"{where}.{i}.entry: expected {sorted(canonical.ENTRY_KEYS)}")
        proof = e.get("proof")
        need(
            isinstance(proof, list) and all(isinstance(h, str) and _HEX32.fullmatch(h) for h in proof),
            f"{where}.{i}.proof: expected a list of 64-digit hex hashes",
        )
        entries.append((int(e["index"]), e["entry"], [bytes.fromhex(h) for h in proof]))
    return entries


def sscc_ok(sscc: str) -> bool:
    """GS1 mod-10 check digit of an 18-digit SSCC."""
    body = [int(c) for c in sscc[:17]]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == int(sscc[17])
