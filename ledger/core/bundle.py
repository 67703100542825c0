"""Proof bundles: a lot's signed history with everything needed to check it against the chain.

CONSENSUS-CRITICAL in the same way as ``ledger.core.canonical``: ``docs/bundle.md`` specifies this
format for third-party verifiers. Change it only by adding a new version. Version 1 is one lot's
history; version 2 (``kind`` ``lot`` or ``shipment``) holds several lots' histories ("chains"):
the subject lot or the shipment's lots, and every upstream lot they were made from.

Pure: ``build_bundle`` takes plain values; ``verify_bundle`` takes the bundle and a
``ChainRead`` (the chain read is passed in) and trusts nothing else. Checks, in order:

- ``format``     the document is a version-1 bundle with well-formed fields
- ``key``        every signer's public key is in the bundle and hashes to its key id
- ``signature``  Ed25519 over the RFC 8785 bytes of each statement
- ``chain``      entries are the lot's, seq 0, 1, 2, …, each ``prev`` the previous leaf hash
- ``inclusion``  each leaf is included at its index under the tree head (RFC 9162)
- ``lineage``    (v2) each ``ocop:inputs`` head is the leaf hash of an earlier entry of that input lot
                 in the bundle, and every chain is the subject's or an input of one
- ``membership`` (v2 shipment) each listed lot has a signed AggregationEvent ADD with ``parentID`` the
                 SSCC and no later DELETE; no other chain in the bundle is still in the shipment
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

from ledger.core import canonical, merkle, signing
from ledger.errors import AnchorError, LedgerError, VerificationError

FORMAT = "ocop-ledger-bundle"
VERSION = 1
VERSION_MULTI = 2
KINDS = ("lot", "shipment")
CHECKS = ("format", "key", "signature", "chain", "inclusion", "anchor", "anchor_tx")
CHECKS_V2 = ("format", "key", "signature", "chain", "inclusion", "lineage", "membership", "anchor", "anchor_tx")
SSCC_URI = "https://id.gs1.org/00/"
_SSCC = re.compile(r"[0-9]{18}")
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


def _anchor_json(anchor: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "chain_id": int(anchor["chain_id"]),
        "contract": str(anchor["contract"]),
        "tx_hash": str(anchor["tx_hash"]),
        "block_number": int(anchor["block_number"]),
    }


def build_multi_bundle(
    kind: str,
    subject: str,
    chains: Sequence[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]],
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
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    used = sorted({str(e["signer"]) for _, ents in chains for _, e in ents})
    head: dict[str, Any] = {"format": FORMAT, "version": VERSION_MULTI, "kind": kind}
    if kind == "lot":
        head["lot"] = subject
    else:
        head |= {"sscc": subject, "lots": list(members)}
    return head | {
        "chains": [
            {
                "lot": lot,
                "entries": [
                    {"index": idx, "entry": dict(ent), "proof": [h.hex() for h in proofs[idx]]} for idx, ent in ents
                ],
            }
            for lot, ents in chains
        ],
        "keys": [{"key_id": kid, "public_key": base64.b64encode(public_keys[kid]).decode()} for kid in used],
        "tree_head": {"size": tree_size, "root": root.hex()},
        "anchor": _anchor_json(anchor),
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
    kind: str = "lot"
    version: int | None = None
    sscc: str | None = None
    lots: list[str] = field(default_factory=list)  # the lots whose histories the bundle holds

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "kind": self.kind,
            "version": self.version,
            "lot": self.lot,
            "sscc": self.sscc,
            "lots": self.lots,
            "checks": self.checks,
            "failure": self.failure,
            "entries": self.entries,
            "tree_size": self.tree_size,
            "root": self.root,
            "anchor": self.anchor,
            "contract_source": self.contract_source,
        }


class _Failed(Exception):
    def __init__(
        self, check: str, message: str, seq: int | None = None, index: int | None = None, lot: str | None = None
    ) -> None:
        super().__init__(message)
        self.check, self.seq, self.index, self.lot = check, seq, index, lot


def verify_bundle(bundle: Any, chain: ChainRead, *, contract: str | None = None) -> BundleReport:
    """Check a bundle with nothing but its contents and the chain; never raises for bad bundles.

    ``contract`` pins the anchoring contract's address (a bundle naming another is tampered);
    without it the bundle's own address is used and ``contract_source`` says so.
    """
    is_doc = isinstance(bundle, dict)
    lot = bundle.get("lot") if is_doc and isinstance(bundle.get("lot"), str) else None
    report = BundleReport("tampered", lot)
    if is_doc and bundle.get("version") == VERSION_MULTI:
        report.version = VERSION_MULTI
        report.checks = dict.fromkeys(CHECKS_V2, "skipped")
        if bundle.get("kind") in KINDS:
            report.kind = str(bundle["kind"])
        if report.kind == "shipment":
            report.sscc = bundle.get("sscc") if isinstance(bundle.get("sscc"), str) else None
        else:
            del report.checks["membership"]
    elif is_doc and bundle.get("version") == VERSION:
        report.version = VERSION
    try:
        parsed = _parse(bundle)
        report.checks["format"] = "ok"
        report.entries = sum(len(ents) for _, ents in parsed.chains)
        report.tree_size, report.root = parsed.size, parsed.root.hex()
        report.lots = [c for c, _ in parsed.chains]
        report.anchor = dict(parsed.anchor)
        for chain_lot, ents in parsed.chains:
            try:
                _check_entries(parsed, chain_lot, ents, report)
            except _Failed as exc:
                exc.lot = chain_lot
                raise
        if parsed.version == VERSION_MULTI:
            _check_lineage(parsed, report)
            if parsed.kind == "shipment":
                _check_membership(parsed, report)
        _check_anchor(parsed, chain, contract, report)
    except AnchorError:
        raise  # the chain could not be asked: no verdict
    except _Failed as exc:
        report.checks[exc.check] = "failed"
        report.failure = {"check": exc.check, "seq": exc.seq, "index": exc.index, "message": str(exc)}
        if report.version == VERSION_MULTI:
            report.failure["lot"] = exc.lot
        return report
    except (LedgerError, TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed beyond the checks
        report.checks["format"] = "failed"
        report.failure = {"check": "format", "seq": None, "index": None, "message": f"malformed bundle: {exc}"}
        return report
    report.verdict = "verified"
    return report


_Entries = list[tuple[int, dict[str, Any], list[bytes]]]


@dataclass
class _Parsed:
    version: int
    kind: str
    lot: str | None  # kind lot: the subject lot
    sscc: str | None  # kind shipment
    members: list[str]  # kind shipment: the lots in it
    chains: list[tuple[str, _Entries]]
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
    version = b.get("version")
    need(
        version in (VERSION, VERSION_MULTI) and _is_int(version),
        f"version: expected {VERSION} or {VERSION_MULTI}, got {version!r}",
    )
    kind, sscc, members = "lot", None, []
    if version == VERSION_MULTI:
        need(b.get("kind") in KINDS, f"kind: expected one of {list(KINDS)}, got {b.get('kind')!r}")
        kind = str(b["kind"])
    if kind == "lot":
        need(isinstance(b.get("lot"), str) and bool(b["lot"]), "lot: expected a lot id")
    else:
        need(
            isinstance(b.get("sscc"), str) and bool(_SSCC.fullmatch(b["sscc"])) and _sscc_ok(b["sscc"]),
            f"sscc: expected 18 digits with a valid check digit, got {b.get('sscc')!r}",
        )
        sscc = b["sscc"]
        lots = b.get("lots")
        need(
            isinstance(lots, list) and bool(lots) and all(isinstance(x, str) and x for x in lots),
            "lots: expected a non-empty list of lot ids",
        )
        need(len(set(lots)) == len(lots), "lots: a lot is listed twice")
        members = list(lots)
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
    chains: list[tuple[str, _Entries]] = []
    if version == VERSION:
        chains.append((b["lot"], _parse_entries(b.get("entries"), "entries", need)))
    else:
        raw = b.get("chains")
        need(isinstance(raw, list) and len(raw) > 0, "chains: expected a non-empty list")
        for n, c in enumerate(raw):
            need(
                isinstance(c, dict) and isinstance(c.get("lot"), str) and bool(c["lot"]),
                f"chains.{n}.lot: expected a lot id",
            )
            need(all(c["lot"] != seen for seen, _ in chains), f"chains.{n}.lot: lot {c['lot']} has two chains")
            chains.append((c["lot"], _parse_entries(c.get("entries"), f"chains.{n}.entries", need)))
    return _Parsed(
        int(version),
        kind,
        b.get("lot") if kind == "lot" else None,
        sscc,
        members,
        chains,
        keys,
        int(head["size"]),
        bytes.fromhex(head["root"]),
        anchor,
    )


def _parse_entries(raw: Any, where: str, need: Any) -> _Entries:
    entries: _Entries = []
    need(isinstance(raw, list) and len(raw) > 0, f"{where}: expected a non-empty list")
    for i, e in enumerate(raw):
        need(isinstance(e, dict) and _is_int(e.get("index")), f"{where}.{i}.index: expected an integer")
        need(isinstance(e.get("entry"), dict), f"{where}.{i}.entry: expected an object")
        need(set(e["entry"]) == canonical.ENTRY_KEYS, f"{where}.{i}.entry: expected {sorted(canonical.ENTRY_KEYS)}")
        proof = e.get("proof")
        need(
            isinstance(proof, list) and all(isinstance(h, str) and _HEX32.fullmatch(h) for h in proof),
            f"{where}.{i}.proof: expected a list of 64-digit hex hashes",
        )
        entries.append((int(e["index"]), e["entry"], [bytes.fromhex(h) for h in proof]))
    return entries


def _sscc_ok(sscc: str) -> bool:
    """GS1 mod-10 check digit of an 18-digit SSCC."""
    body = [int(c) for c in sscc[:17]]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == int(sscc[17])


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entries(p: _Parsed, lot: str, entries: _Entries, report: BundleReport) -> None:
    prev: str | None = None
    last_index = -1
    for i, (idx, ent, proof) in enumerate(entries):
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
        if stmt["lot"] != lot:
            raise _Failed("chain", f"entry belongs to another lot: expected {lot}, got {stmt['lot']}", seq, idx)
        if seq != i or stmt["prev"] != prev:
            raise _Failed(
                "chain",
                f"entry {i} of lot {lot} does not link: "
                f"expected seq {i} prev {prev}, got seq {seq} prev {stmt['prev']}",
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


def _check_lineage(p: _Parsed, report: BundleReport) -> None:
    """Every ``ocop:inputs`` head is an earlier entry of that input lot in the bundle, and every
    chain is a subject lot or (transitively) an input of one."""
    leaves: dict[tuple[str, str], int] = {}
    for lot, ents in p.chains:
        for idx, ent, _ in ents:
            leaves[(lot, merkle.leaf_hash(canonical.entry_bytes(ent)).hex())] = idx
    inputs_of: dict[str, set[str]] = {}
    for lot, ents in p.chains:
        for idx, ent, _ in ents:
            seq = ent.get("seq") if _is_int(ent.get("seq")) else None
            named = ent["event"].get("ocop:inputs", []) if isinstance(ent.get("event"), dict) else []
            if not isinstance(named, list):
                raise _Failed("lineage", f"lot {lot} seq {seq}: ocop:inputs is not a list", seq, idx, lot)
            for inp in named:
                if (
                    not isinstance(inp, dict)
                    or not isinstance(inp.get("lot"), str)
                    or not isinstance(inp.get("head"), str)
                ):
                    raise _Failed(
                        "lineage", f"lot {lot} seq {seq}: expected inputs {{lot, head}}, got {inp!r}", seq, idx, lot
                    )
                at = leaves.get((inp["lot"], inp["head"]))
                if at is None or at >= idx:
                    raise _Failed(
                        "lineage",
                        f"lot {lot} seq {seq} was made from lot {inp['lot']} at head {inp['head']}: "
                        f"expected an earlier entry of {inp['lot']} with that leaf hash in the bundle, got "
                        + ("one at a later log index" if at is not None else "none"),
                        seq,
                        idx,
                        lot,
                    )
                inputs_of.setdefault(lot, set()).add(inp["lot"])
    subjects = [p.lot] if p.kind == "lot" and p.lot else list(p.members)
    chained = {lot for lot, _ in p.chains}
    for s in subjects:
        if s not in chained:
            check = "membership" if p.kind == "shipment" else "chain"
            raise _Failed(check, f"the bundle holds no entries of lot {s}: expected its chain", lot=s)
    reached, todo = set(subjects), list(subjects)
    while todo:
        for up in inputs_of.get(todo.pop(), ()):
            if up not in reached:
                reached.add(up)
                todo.append(up)
    for lot, _ in p.chains:
        if lot not in reached:
            raise _Failed("lineage", f"lot {lot} is neither the bundle's subject nor an input of it", lot=lot)
    report.checks["lineage"] = "ok"


def _check_membership(p: _Parsed, report: BundleReport) -> None:
    """Each listed lot's last signed aggregation with this SSCC as parent is an ADD; no other
    chain in the bundle is still in the shipment."""
    uri = SSCC_URI + str(p.sscc)
    for lot, ents in p.chains:
        state: str | None = None
        where: tuple[int | None, int | None] = (None, None)
        for idx, ent, _ in ents:
            ev = ent.get("event")
            if isinstance(ev, dict) and ev.get("type") == "AggregationEvent" and ev.get("parentID") == uri:
                state = str(ev.get("action"))
                where = (ent.get("seq") if _is_int(ent.get("seq")) else None, idx)
        listed = lot in p.members
        if listed and state != "ADD":
            got = "no signed packing into it" if state is None else f"a signed {state} at seq {where[0]}"
            raise _Failed(
                "membership", f"lot {lot} is listed in shipment {p.sscc}: expected it packed, got {got}", *where, lot
            )
        if not listed and state == "ADD":
            raise _Failed(
                "membership",
                f"lot {lot} is in shipment {p.sscc} by its signed events but not listed in lots",
                *where,
                lot,
            )
    report.checks["membership"] = "ok"


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
