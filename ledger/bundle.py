"""Proof bundles: a lot's signed history with everything needed to check it against the chain.

CONSENSUS-CRITICAL in the same way as ``ledger.canonical``: ``docs/bundle.md`` specifies this
format (version 1) for third-party verifiers. Change it only by adding a new version.

Pure: ``build_bundle`` takes plain values; ``verify_bundle`` takes the bundle and a
``ChainRead`` (the chain read is passed in) and trusts nothing else. Checks, in order:

- ``format``     the document is a version-1 bundle with well-formed fields
- ``key``        every signer's public key is in the bundle and hashes to its key id
- ``signature``  Ed25519 over the RFC 8785 bytes of each statement
- ``chain``      entries are the lot's, seq 0, 1, 2, …, each ``prev`` the previous leaf hash
- ``inclusion``  each leaf is included at its index under the tree head (RFC 9162)
- ``anchor``     the contract on the bundle's chain holds the tree head's root for its size
- ``anchor_tx``  the anchor transaction was mined in the stated block and emitted that anchor
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger import canonical, merkle, signing
from ledger.errors import AnchorError, LedgerError, VerificationError

FORMAT = "ocop-ledger-bundle"
VERSION = 1
CHECKS = ("format", "key", "signature", "chain", "inclusion", "anchor", "anchor_tx")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX = re.compile(r"0x[0-9a-f]{64}")
ZERO_ROOT = bytes(32)


@dataclass(frozen=True)
class AnchorTx:
    """What the chain says about a transaction: its block, success, and ``Anchored`` events in it."""

    block_number: int
    success: bool
    anchored: Sequence[tuple[str, int, bytes]]  # (emitting contract, tree size, root)


class ChainRead(Protocol):
    """The chain reads a bundle verifier needs (an RPC client, or a stub in tests)."""

    def chain_id(self) -> int: ...

    def root_at(self, contract: str, size: int) -> bytes: ...

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None: ...


def build_bundle(
    lot: str,
    entries: Sequence[tuple[int, Mapping[str, Any]]],
    public_keys: Mapping[str, bytes],
    tree_size: int,
    root: bytes,
    proofs: Mapping[int, Sequence[bytes]],
    anchor: Mapping[str, Any],
) -> dict[str, Any]:
    """A version-1 bundle: ``entries`` are (log index, entry) in log order; ``anchor`` has
    ``chain_id``, ``contract``, ``tx_hash`` and ``block_number`` of the anchor at ``tree_size``."""
    used = sorted({str(e["signer"]) for _, e in entries})
    return {
        "format": FORMAT,
        "version": VERSION,
        "lot": lot,
        "entries": [
            {"index": idx, "entry": dict(ent), "proof": [h.hex() for h in proofs[idx]]} for idx, ent in entries
        ],
        "keys": [{"key_id": kid, "public_key": base64.b64encode(public_keys[kid]).decode()} for kid in used],
        "tree_head": {"size": tree_size, "root": root.hex()},
        "anchor": {
            "chain_id": int(anchor["chain_id"]),
            "contract": str(anchor["contract"]),
            "tx_hash": str(anchor["tx_hash"]),
            "block_number": int(anchor["block_number"]),
        },
    }


@dataclass
class BundleReport:
    verdict: str  # verified | tampered
    lot: str | None
    checks: dict[str, str] = field(default_factory=lambda: dict.fromkeys(CHECKS, "skipped"))
    failure: dict[str, Any] | None = None
    entries: int = 0
    tree_size: int | None = None
    root: str | None = None
    anchor: dict[str, Any] | None = None
    contract_source: str = "bundle"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "lot": self.lot,
            "checks": self.checks,
            "failure": self.failure,
            "entries": self.entries,
            "tree_size": self.tree_size,
            "root": self.root,
            "anchor": self.anchor,
            "contract_source": self.contract_source,
        }


class _Failed(Exception):
    def __init__(self, check: str, message: str, seq: int | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.check, self.seq, self.index = check, seq, index


def verify_bundle(bundle: Any, chain: ChainRead, *, contract: str | None = None) -> BundleReport:
    """Check a bundle with nothing but its contents and the chain; never raises for bad bundles.

    ``contract`` pins the anchoring contract's address (a bundle naming another is tampered);
    without it the bundle's own address is used and ``contract_source`` says so.
    """
    lot = bundle.get("lot") if isinstance(bundle, dict) and isinstance(bundle.get("lot"), str) else None
    report = BundleReport("tampered", lot)
    try:
        parsed = _parse(bundle)
        report.checks["format"] = "ok"
        report.entries, report.tree_size, report.root = len(parsed.entries), parsed.size, parsed.root.hex()
        report.anchor = dict(parsed.anchor)
        _check_entries(parsed, report)
        _check_anchor(parsed, chain, contract, report)
    except AnchorError:
        raise  # the chain could not be asked: no verdict
    except _Failed as exc:
        report.checks[exc.check] = "failed"
        report.failure = {"check": exc.check, "seq": exc.seq, "index": exc.index, "message": str(exc)}
        return report
    except (LedgerError, TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed beyond the checks
        report.checks["format"] = "failed"
        report.failure = {"check": "format", "seq": None, "index": None, "message": f"malformed bundle: {exc}"}
        return report
    report.verdict = "verified"
    return report


@dataclass
class _Parsed:
    lot: str
    entries: list[tuple[int, dict[str, Any], list[bytes]]]
    keys: dict[str, bytes]
    size: int
    root: bytes
    anchor: dict[str, Any]


def _parse(b: Any) -> _Parsed:
    def need(cond: bool, message: str) -> None:
        if not cond:
            raise _Failed("format", message)

    need(isinstance(b, dict), f"a bundle is a JSON object, got {type(b).__name__}")
    need("unparseable" not in b, f"the file is not valid JSON: {b.get('unparseable', '')}")
    need(b.get("format") == FORMAT, f"format: expected {FORMAT!r}, got {b.get('format')!r}")
    need(b.get("version") == VERSION, f"version: expected {VERSION}, got {b.get('version')!r}")
    need(isinstance(b.get("lot"), str) and bool(b["lot"]), "lot: expected a lot id")
    head, anchor = b.get("tree_head"), b.get("anchor")
    need(isinstance(head, dict), "tree_head: expected an object")
    need(
        _is_int(head.get("size")) and head["size"] > 0,
        f"tree_head.size: expected a positive integer, got {head.get('size')!r}",
    )
    need(
        isinstance(head.get("root"), str) and bool(_HEX32.fullmatch(head["root"])),
        "tree_head.root: expected 64 hex digits",
    )
    need(isinstance(anchor, dict), "anchor: expected an object")
    need(_is_int(anchor.get("chain_id")) and anchor["chain_id"] > 0, "anchor.chain_id: expected a positive integer")
    need(
        isinstance(anchor.get("contract"), str) and bool(_ADDRESS.fullmatch(anchor["contract"])),
        f"anchor.contract: expected a 0x address, got {anchor.get('contract')!r}",
    )
    need(
        isinstance(anchor.get("tx_hash"), str) and bool(_TX.fullmatch(anchor["tx_hash"])),
        f"anchor.tx_hash: expected 0x and 64 hex digits, got {anchor.get('tx_hash')!r}",
    )
    need(
        _is_int(anchor.get("block_number")) and anchor["block_number"] >= 0,
        f"anchor.block_number: expected an integer, got {anchor.get('block_number')!r}",
    )
    keys: dict[str, bytes] = {}
    need(isinstance(b.get("keys"), list), "keys: expected a list")
    for i, k in enumerate(b["keys"]):
        need(isinstance(k, dict) and isinstance(k.get("key_id"), str), f"keys.{i}.key_id: expected a string")
        text = str(k.get("public_key"))
        try:
            keys[k["key_id"]] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _Failed("format", f"keys.{i}.public_key: expected base64") from None
        # one encoding per key: unused padding bits must be zero (b64decode ignores them)
        need(base64.b64encode(keys[k["key_id"]]).decode() == text, f"keys.{i}.public_key: not canonical base64")
    entries = []
    need(isinstance(b.get("entries"), list) and len(b["entries"]) > 0, "entries: expected a non-empty list")
    for i, e in enumerate(b["entries"]):
        need(isinstance(e, dict) and _is_int(e.get("index")), f"entries.{i}.index: expected an integer")
        need(isinstance(e.get("entry"), dict), f"entries.{i}.entry: expected an object")
        need(set(e["entry"]) == canonical.ENTRY_KEYS, f"entries.{i}.entry: expected {sorted(canonical.ENTRY_KEYS)}")
        proof = e.get("proof")
        need(
            isinstance(proof, list) and all(isinstance(h, str) and _HEX32.fullmatch(h) for h in proof),
            f"entries.{i}.proof: expected a list of 64-digit hex hashes",
        )
        entries.append((int(e["index"]), e["entry"], [bytes.fromhex(h) for h in proof]))
    return _Parsed(b["lot"], entries, keys, int(head["size"]), bytes.fromhex(head["root"]), anchor)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entries(p: _Parsed, report: BundleReport) -> None:
    prev: str | None = None
    last_index = -1
    for i, (idx, ent, proof) in enumerate(p.entries):
        seq = ent.get("seq") if _is_int(ent.get("seq")) else None
        stmt, sig = canonical.split_entry(ent) if isinstance(ent.get("sig"), str) else (ent, "")
        kid = str(ent.get("signer"))
        pub = p.keys.get(kid)
        if pub is None or len(pub) != 32 or signing.KEY_ID_PREFIX + hashlib.sha256(pub).hexdigest() != kid:
            raise _Failed("key", f"no public key in the bundle hashes to signer {kid}", seq, idx)
        try:
            data = canonical.statement_bytes(stmt)
            signing.verify_signature(pub, data, sig)
        except LedgerError as exc:
            raise _Failed("signature", f"entry seq {seq}: {exc}", seq, idx) from exc
        report.checks["key"] = report.checks["signature"] = "ok"
        if stmt["lot"] != p.lot:
            raise _Failed("chain", f"entry belongs to another lot: expected {p.lot}, got {stmt['lot']}", seq, idx)
        if seq != i or stmt["prev"] != prev:
            raise _Failed(
                "chain",
                f"entry {i} does not link: expected seq {i} prev {prev}, got seq {seq} prev {stmt['prev']}",
                seq,
                idx,
            )
        if not last_index < idx < p.size:
            raise _Failed("inclusion", f"log index out of order or beyond the tree: got {idx}, size {p.size}", seq, idx)
        report.checks["chain"] = "ok"
        leaf = merkle.leaf_hash(canonical.entry_bytes(ent))
        try:
            merkle.verify_inclusion(leaf, idx, p.size, proof, p.root)
        except VerificationError as exc:
            raise _Failed("inclusion", f"entry seq {seq} at index {idx}: {exc}", seq, idx) from exc
        report.checks["inclusion"] = "ok"
        prev, last_index = leaf.hex(), idx


def _check_anchor(p: _Parsed, chain: ChainRead, pinned: str | None, report: BundleReport) -> None:
    address = str(p.anchor["contract"])
    if pinned is not None:
        report.contract_source = "pinned"
        if pinned.lower() != address.lower():
            raise _Failed("anchor", f"anchor contract is not the trusted one: expected {pinned}, got {address}")
    got_chain = chain.chain_id()
    if got_chain != p.anchor["chain_id"]:
        raise _Failed(
            "anchor", f"the RPC serves another chain: expected chain id {p.anchor['chain_id']}, got {got_chain}"
        )
    onchain = chain.root_at(address, p.size)
    if onchain == ZERO_ROOT:
        raise _Failed("anchor", f"the contract holds no root for tree size {p.size}")
    if onchain != p.root:
        raise _Failed("anchor", f"root on chain differs at size {p.size}: expected {p.root.hex()}, got {onchain.hex()}")
    report.checks["anchor"] = "ok"
    tx = chain.anchor_tx(str(p.anchor["tx_hash"]))
    if tx is None or not tx.success:
        raise _Failed("anchor_tx", f"transaction {p.anchor['tx_hash']} is not a successful mined transaction")
    if tx.block_number != p.anchor["block_number"]:
        raise _Failed(
            "anchor_tx", f"anchor transaction block differs: expected {p.anchor['block_number']}, got {tx.block_number}"
        )
    if not any(c.lower() == address.lower() and s == p.size and r == p.root for c, s, r in tx.anchored):
        raise _Failed("anchor_tx", f"transaction {p.anchor['tx_hash']} did not anchor size {p.size} on {address}")
    report.checks["anchor_tx"] = "ok"
