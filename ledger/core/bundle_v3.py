"""Bundle version 3 (``docs/bundle.md`` "Version 3"): building it from plain values, and its ``format`` check.

A v3 bundle holds chains of lots (``lot:<id>``) and of format v2 subjects (``key:``, ``org:``,
``product:``, ``attestation:``), the anchored ``heads`` entry at index ``h`` (the tree head has
size ``h + 1``), one map proof per chain (and per shipment), and the operator's log key::

    {"format", "version": 3, "kind": "lot" | "shipment", "subject", "lots" (shipment only),
     "chains": [{"subject", "entries": [{"index", "entry", "proof"}]}],
     "heads": {"index", "entry", "proof"}, "map": [{"leaf", "position", "proof"}],
     "log_key": {"key_id", "public_key"}, "tree_head": {"size", "root"}, "anchor": {...}}

No other field is allowed. Pure: plain values in and out.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.core import canonical, statements
from ledger.core.bundle_build import FORMAT, KINDS, Chain, _anchor_json, _entries_json
from ledger.core.bundle_parse import (
    ANCHOR_FIELDS,
    ITEM_FIELDS,
    TREE_HEAD_FIELDS,
    Entries,
    _parse_anchor,
    _parse_entries,
    _parse_tree_head,
    is_int,
    need,
    only,
    sscc_ok,
)

VERSION_V3 = 3
TOP_FIELDS = frozenset(
    {"format", "version", "kind", "subject", "chains", "heads", "map", "log_key", "tree_head", "anchor"}
)
CHAIN_FIELDS = frozenset({"subject", "entries"})
LOG_KEY_FIELDS = frozenset({"key_id", "public_key"})
_SSCC = re.compile(r"[0-9]{18}")
_ = (ANCHOR_FIELDS, TREE_HEAD_FIELDS)  # the same envelopes as versions 1 and 2


@dataclass
class ParsedV3:
    kind: str
    subject: str
    lots: list[str]  # kind shipment: the lots in it
    chains: list[tuple[str, Entries]]  # (subject, entries): "lot:<id>" or a v2 subject
    heads: tuple[int, dict[str, Any], list[bytes]]
    map: list[Any]  # map proofs, checked by ``completeness``
    log_key: tuple[str, bytes]
    size: int
    root: bytes
    anchor: dict[str, Any]


def build_v3(
    kind: str,
    subject: str,
    chains: Sequence[tuple[str, Chain]],
    proofs: Mapping[int, Sequence[bytes]],
    heads_entry: tuple[int, Mapping[str, Any]],
    map_proofs: Sequence[Mapping[str, Any]],
    log_key: tuple[str, bytes],
    tree: tuple[int, bytes],
    anchor: Mapping[str, Any],
    lots: Sequence[str] = (),
) -> dict[str, Any]:
    """A version-3 bundle. ``chains`` are (subject, [(log index, entry), ...]) from seq 0; ``tree`` is
    the anchored (size, root) with size = heads index + 1; ``map_proofs`` in key order."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION_V3, "kind": kind, "subject": subject}
    if kind == "shipment":
        doc["lots"] = list(lots)
    idx, ent = heads_entry
    return doc | {
        "chains": [{"subject": s, "entries": _entries_json(ents, proofs)} for s, ents in chains],
        "heads": {"index": idx, "entry": dict(ent), "proof": [h.hex() for h in proofs[idx]]},
        "map": [dict(m) for m in map_proofs],
        "log_key": {"key_id": log_key[0], "public_key": base64.b64encode(log_key[1]).decode()},
        "tree_head": {"size": tree[0], "root": tree[1].hex()},
        "anchor": _anchor_json(anchor),
    }


def parse_v3(b: dict[str, Any]) -> ParsedV3:
    """The fields of a version-3 bundle, each checked for type and shape (``format``)."""
    kind = b.get("kind")
    need(kind in KINDS, f"kind: expected one of {list(KINDS)}, got {kind!r}")
    only(b, TOP_FIELDS | ({"lots"} if kind == "shipment" else set()), "bundle")
    subject, lots = _parse_subject(b, str(kind))
    size, root = _parse_tree_head(b.get("tree_head"))
    anchor = _parse_anchor(b.get("anchor"))
    chains = _parse_chains(b.get("chains"))
    heads = _parse_heads(b.get("heads"))
    need(isinstance(b.get("map"), list), "map: expected a list of map proofs")
    return ParsedV3(
        str(kind), subject, lots, chains, heads, b["map"], _parse_log_key(b.get("log_key")), size, root, anchor
    )


def _parse_subject(b: dict[str, Any], kind: str) -> tuple[str, list[str]]:
    subject = b.get("subject")
    need(isinstance(subject, str) and bool(subject), "subject: expected the lot id or the SSCC")
    if kind == "lot":
        return str(subject), []
    need(bool(_SSCC.fullmatch(str(subject))) and sscc_ok(str(subject)), f"subject: expected an SSCC, got {subject!r}")
    lots: Any = b.get("lots")
    need(isinstance(lots, list) and all(isinstance(x, str) and x for x in lots), "lots: expected a list of lot ids")
    need(len(set(lots)) == len(lots), "lots: a lot is listed twice")
    return str(subject), list(lots)


def _parse_chains(raw: Any) -> list[tuple[str, Entries]]:
    need(isinstance(raw, list) and len(raw) > 0, "chains: expected a non-empty list")
    chains: list[tuple[str, Entries]] = []
    for n, c in enumerate(raw):
        need(isinstance(c, dict) and isinstance(c.get("subject"), str), f"chains.{n}.subject: expected a string")
        only(c, CHAIN_FIELDS, f"chains.{n}")
        subject = str(c["subject"])
        need(
            subject.startswith("lot:") or subject.split(":", 1)[0] in ("org", "key", "product", "attestation"),
            f"chains.{n}.subject: expected 'lot:<id>' or an org/key/product/attestation subject, got {subject!r}",
        )
        need(all(subject != seen for seen, _ in chains), f"chains.{n}.subject: {subject} has two chains")
        where = f"chains.{n}.entries"
        if subject.startswith("lot:"):
            entries = _parse_entries(c.get("entries"), where)
        else:
            entries = _parse_v2_entries(c.get("entries"), where)
        chains.append((subject, entries))
    return chains


def _parse_v2_entries(raw: Any, where: str) -> Entries:
    """Like version 1's entries, but each entry is a v2 one (statement + ``sig`` [+ ``pop``])."""
    need(isinstance(raw, list) and len(raw) > 0, f"{where}: expected a non-empty list")
    out: Entries = []
    for i, e in enumerate(raw):
        need(isinstance(e, dict) and is_int(e.get("index")), f"{where}.{i}.index: expected an integer")
        only(e, ITEM_FIELDS, f"{where}.{i}")
        ent = e.get("entry")
        need(isinstance(ent, dict), f"{where}.{i}.entry: expected an object")
        extra = set(ent) - statements.STATEMENT_V2_KEYS - {"sig", "pop"}
        need(not extra and statements.STATEMENT_V2_KEYS <= set(ent), f"{where}.{i}.entry: expected a v2 entry")
        out.append((int(e["index"]), ent, _proof(e.get("proof"), f"{where}.{i}.proof")))
    return out


def _parse_heads(raw: Any) -> tuple[int, dict[str, Any], list[bytes]]:
    need(isinstance(raw, dict) and is_int(raw.get("index")), "heads.index: expected an integer")
    only(raw, ITEM_FIELDS, "heads")
    ent = raw.get("entry")
    need(isinstance(ent, dict) and set(ent) == statements.STATEMENT_V2_KEYS | {"sig"}, "heads.entry: a v2 entry")
    return int(raw["index"]), ent, _proof(raw.get("proof"), "heads.proof")


def _parse_log_key(raw: Any) -> tuple[str, bytes]:
    need(isinstance(raw, dict) and isinstance(raw.get("key_id"), str), "log_key.key_id: expected a string")
    only(raw, LOG_KEY_FIELDS, "log_key")
    text = raw.get("public_key")
    need(isinstance(text, str), "log_key.public_key: expected base64")
    try:
        pub = base64.b64decode(str(text), validate=True)
    except ValueError:
        pub = b""
    need(len(pub) == 32 and base64.b64encode(pub).decode() == text, "log_key.public_key: 32 bytes, canonical base64")
    return str(raw["key_id"]), pub


def _proof(raw: Any, where: str) -> list[bytes]:
    ok = isinstance(raw, list) and all(isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h) for h in raw)
    need(ok, f"{where}: expected a list of 64-digit hex hashes")
    return [bytes.fromhex(h) for h in raw]


def leaf_of(entry: Mapping[str, Any], subject: str) -> bytes:
    """The leaf data of an entry of ``subject``: a lot's (v1) or a v2 subject's."""
    if subject.startswith("lot:"):
        return canonical.entry_bytes(entry)
    return statements.entry_bytes(entry)
