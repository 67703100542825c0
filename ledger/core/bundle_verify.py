"""Verifying a proof bundle with nothing but its contents and a ``ChainReader``.

The per-entry checks (signature, chain, inclusion, transformation inputs) are those of
``ledger.core.chaincheck``, shared with ``/verify`` and the audit; this module adds what only a
bundle has: keys carried in the file, lineage and shipment membership across chains, and the
anchor read from the chain. Check names and the report are part of ``docs/bundle.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ledger.core import canonical, chaincheck, merkle, signing, strict_json
from ledger.core.bundle_build import KINDS, VERSION, VERSION_MULTI
from ledger.core.bundle_parse import Entries, Parsed, is_int, parse
from ledger.core.ports import ChainReader
from ledger.errors import AnchorError, LedgerError, VerificationError

CHECKS = ("format", "key", "signature", "chain", "inclusion", "anchor", "anchor_tx")
CHECKS_V2 = ("format", "key", "signature", "chain", "inclusion", "lineage", "membership", "anchor", "anchor_tx")
SSCC_URI = "https://id.gs1.org/00/"
ZERO_ROOT = bytes(32)


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


def verify_bundle(bundle: Any, chain: ChainReader, *, contract: str | None = None) -> BundleReport:
    """Check a bundle with nothing but its contents and the chain; never raises for bad bundles.

    ``contract`` pins the anchoring contract's address (a bundle naming another is tampered);
    without it the bundle's own address is used and ``contract_source`` says so. Raises
    ``AnchorError`` (no verdict) only when the chain cannot be asked. ``bundle`` may be the file's
    bytes: they are read by ``ledger.core.strict_json`` (a BOM, non-UTF-8, a duplicate key or an
    integer beyond 2^53 fails ``format``).
    """
    try:
        if isinstance(bundle, bytes | bytearray):
            bundle = strict_json.loads(bundle)
    except VerificationError as exc:
        return _failed(_new_report(None), exc)
    report = _new_report(bundle)
    try:
        parsed = parse(bundle)
        _describe(parsed, report)
        _check_all(parsed, chain, contract, report)
    except AnchorError:
        raise  # the chain could not be asked: no verdict
    except VerificationError as exc:
        return _failed(report, exc)
    except (LedgerError, TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed beyond the checks
        return _failed(report, VerificationError(f"malformed bundle: {exc}", check="format"))
    report.verdict = "verified"
    return report


def _new_report(bundle: Any) -> BundleReport:
    """A tampered report with every check skipped, holding what can be read before parsing."""
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
    return report


def _describe(p: Parsed, report: BundleReport) -> None:
    report.checks["format"] = "ok"
    report.entries = sum(len(ents) for _, ents in p.chains)
    report.tree_size, report.root = p.size, p.root.hex()
    report.lots = [c for c, _ in p.chains]
    report.anchor = dict(p.anchor)


def _check_all(p: Parsed, chain: ChainReader, contract: str | None, report: BundleReport) -> None:
    for chain_lot, ents in p.chains:
        _check_entries(p, chain_lot, ents, report)
    if p.version == VERSION_MULTI:
        _check_lineage(p, report)
        if p.kind == "shipment":
            _check_membership(p, report)
    _check_anchor(p, chain, contract, report)


def _failed(report: BundleReport, exc: VerificationError) -> BundleReport:
    check = exc.check if exc.check in report.checks else "format"
    message = str(exc) if exc.check in report.checks else f"malformed bundle: {exc}"
    report.checks[check] = "failed"
    report.failure = {"check": check, "seq": exc.seq, "index": exc.index, "message": message}
    if report.version == VERSION_MULTI:
        report.failure["lot"] = exc.lot
    return report


def _check_entries(p: Parsed, lot: str, entries: Entries, report: BundleReport) -> None:
    prev: bytes | None = None
    last_index = -1
    for i, (idx, ent, proof) in enumerate(entries):
        try:
            prev = _check_entry(p, lot, i, (idx, ent, proof), prev, last_index, report)
        except VerificationError as exc:
            seq = ent.get("seq") if is_int(ent.get("seq")) else None
            raise exc.at(lot=lot, seq=seq, index=idx) from None
        last_index = idx


def _check_entry(
    p: Parsed,
    lot: str,
    i: int,
    item: tuple[int, dict[str, Any], list[bytes]],
    prev: bytes | None,
    last_index: int,
    report: BundleReport,
) -> bytes:
    """key, signature, chain and inclusion of entry ``i`` of ``lot``; returns its leaf hash."""
    idx, ent, proof = item
    stmt, sig = canonical.split_entry(ent) if isinstance(ent.get("sig"), str) else (ent, "")
    kid = str(ent.get("signer"))
    chaincheck.check_signature(_bundle_key(p, kid), kid, stmt, sig)
    report.checks["key"] = report.checks["signature"] = "ok"
    chaincheck.check_link(lot, stmt, i, prev.hex() if prev is not None else None)
    if not last_index < idx < p.size:
        raise VerificationError(
            f"log index out of order or beyond the tree: expected {last_index} < index < {p.size}, got {idx}",
            check="inclusion",
        )
    report.checks["chain"] = "ok"
    leaf = merkle.leaf_hash(canonical.entry_bytes(ent))
    chaincheck.check_inclusion(leaf, idx, p.size, proof, p.root)
    report.checks["inclusion"] = "ok"
    return leaf


def _bundle_key(p: Parsed, kid: str) -> bytes:
    """The signer's public key from the bundle; it must hash to the key id (check ``key``)."""
    pub = p.keys.get(kid)
    if pub is None or len(pub) != 32 or signing.KEY_ID_PREFIX + hashlib.sha256(pub).hexdigest() != kid:
        raise VerificationError(f"no public key in the bundle hashes to signer {kid}", check="key", found=kid)
    return pub


def _check_lineage(p: Parsed, report: BundleReport) -> None:
    """Every ``ocop:inputs`` head is an earlier entry of that input lot in the bundle, and every
    chain is a subject lot or (transitively) an input of one."""
    leaves = {
        (lot, merkle.leaf_hash(canonical.entry_bytes(ent)).hex()): idx for lot, ents in p.chains for idx, ent, _ in ents
    }
    inputs_of: dict[str, set[str]] = {}
    for lot, ents in p.chains:
        for idx, ent, _ in ents:
            try:
                chaincheck.check_inputs(ent.get("event"), idx, lambda a, h: leaves.get((a, h)), check="lineage")
            except VerificationError as exc:
                seq = ent.get("seq") if is_int(ent.get("seq")) else None
                raise exc.at(lot=lot, seq=seq, index=idx) from None
            inputs_of.setdefault(lot, set()).update(a for a, _ in chaincheck.input_refs(ent.get("event")))
    _check_reachable(p, inputs_of)
    report.checks["lineage"] = "ok"


def _check_reachable(p: Parsed, inputs_of: dict[str, set[str]]) -> None:
    """The subject lots all have chains, and every chain is reached from them through inputs."""
    subjects = [p.lot] if p.kind == "lot" and p.lot else list(p.members)
    chained = {lot for lot, _ in p.chains}
    for s in subjects:
        if s not in chained:
            check = "membership" if p.kind == "shipment" else "chain"
            raise VerificationError(f"the bundle holds no entries of lot {s}: expected its chain", check=check, lot=s)
    reached, todo = set(subjects), list(subjects)
    while todo:
        for up in inputs_of.get(todo.pop(), ()):
            if up not in reached:
                reached.add(up)
                todo.append(up)
    for lot, _ in p.chains:
        if lot not in reached:
            raise VerificationError(
                f"lot {lot} is neither the bundle's subject nor an input of it", check="lineage", lot=lot
            )


def _check_membership(p: Parsed, report: BundleReport) -> None:
    """Each listed lot's last signed aggregation with this SSCC as parent is an ADD; no other
    chain in the bundle is still in the shipment."""
    uri = SSCC_URI + str(p.sscc)
    for lot, ents in p.chains:
        state, seq, idx = _packing_state(ents, uri)
        listed = lot in p.members
        if listed and state != "ADD":
            got = "no signed packing into it" if state is None else f"a signed {state} at seq {seq}"
            raise VerificationError(
                f"lot {lot} is listed in shipment {p.sscc}: expected it packed, got {got}",
                check="membership",
                lot=lot,
                seq=seq,
                index=idx,
            )
        if not listed and state == "ADD":
            raise VerificationError(
                f"lot {lot} is in shipment {p.sscc} by its signed events but not listed in lots",
                check="membership",
                lot=lot,
                seq=seq,
                index=idx,
            )
    report.checks["membership"] = "ok"


def _packing_state(ents: Entries, uri: str) -> tuple[str | None, int | None, int | None]:
    """(action, seq, index) of the chain's last signed aggregation with parent ``uri``."""
    state: str | None = None
    seq: int | None = None
    at: int | None = None
    for idx, ent, _ in ents:
        ev = ent.get("event")
        if isinstance(ev, dict) and ev.get("type") == "AggregationEvent" and ev.get("parentID") == uri:
            state = str(ev.get("action"))
            seq, at = (ent.get("seq") if is_int(ent.get("seq")) else None), idx
    return state, seq, at


def _check_anchor(p: Parsed, chain: ChainReader, pinned: str | None, report: BundleReport) -> None:
    address = str(p.anchor["contract"])
    if pinned is not None:
        report.contract_source = "pinned"
        if pinned.lower() != address.lower():
            _anchor_fail(f"anchor contract is not the trusted one: expected {pinned}, got {address}", pinned, address)
    reader = chain.at(address)
    got_chain = reader.chain_id
    if got_chain != p.anchor["chain_id"]:
        _anchor_fail(
            f"the RPC serves another chain: expected chain id {p.anchor['chain_id']}, got {got_chain}",
            p.anchor["chain_id"],
            got_chain,
        )
    onchain = reader.root_at(p.size)
    if onchain == ZERO_ROOT:
        _anchor_fail(f"the contract holds no root for tree size {p.size}", p.root.hex(), None)
    if onchain != p.root:
        _anchor_fail(
            f"root on chain differs at size {p.size}: expected {p.root.hex()}, got {onchain.hex()}",
            p.root.hex(),
            onchain.hex(),
        )
    report.checks["anchor"] = "ok"
    _check_anchor_tx(p, reader, address)
    report.checks["anchor_tx"] = "ok"


def _check_anchor_tx(p: Parsed, reader: ChainReader, address: str) -> None:
    tx_hash = str(p.anchor["tx_hash"])
    tx = reader.anchor_tx(tx_hash)
    if tx is None or not tx.success:
        raise VerificationError(f"transaction {tx_hash} is not a successful mined transaction", check="anchor_tx")
    if tx.block_number != p.anchor["block_number"]:
        raise VerificationError(
            f"anchor transaction block differs: expected {p.anchor['block_number']}, got {tx.block_number}",
            check="anchor_tx",
            expected=p.anchor["block_number"],
            found=tx.block_number,
        )
    if not any(c.lower() == address.lower() and s == p.size and r == p.root for c, s, r in tx.anchored):
        raise VerificationError(f"transaction {tx_hash} did not anchor size {p.size} on {address}", check="anchor_tx")


def _anchor_fail(message: str, expected: Any, found: Any) -> None:
    raise VerificationError(message, check="anchor", expected=expected, found=found)
