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

from ledger.core import bundle_verify_v3 as v3
from ledger.core import canonical, chaincheck, merkle, signing, strict_json
from ledger.core.bundle_anchor import check_anchor, check_anchor_tx, check_latest, pinned_contract
from ledger.core.bundle_build import KINDS, VERSION, VERSION_MULTI
from ledger.core.bundle_parse import Entries, Parsed, is_int, parse
from ledger.core.bundle_v3 import VERSION_V3, parse_v3
from ledger.core.ports import ChainReader
from ledger.core.trust import Trust
from ledger.errors import AnchorError, LedgerError, UnverifiableError, VerificationError

CHECKS = ("format", "key", "signature", "chain", "inclusion", "anchor", "anchor_tx")
CHECKS_V2 = ("format", "key", "signature", "chain", "inclusion", "lineage", "membership", "anchor", "anchor_tx")
SSCC_URI = "https://id.gs1.org/00/"


@dataclass
class BundleReport:
    verdict: str  # verified | tampered | unverifiable
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
    latest: bool | None = None  # the anchor is the contract's latest (None: not asked)
    trust: dict[str, Any] | None = None  # the pinned trust roots, when given
    facts: dict[str, Any] | None = None  # version 3, verified: the facts and who vouches for each

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
            "latest": self.latest,
            "trust": self.trust,
            "facts": self.facts,
        }


def verify_bundle(
    bundle: Any,
    chain: ChainReader,
    *,
    contract: str | None = None,
    trust: Trust | None = None,
    require_latest: bool = False,
) -> BundleReport:
    """Check a bundle with nothing but its contents and the chain; never raises for bad bundles.

    ``contract`` (or ``trust``, the operator's published roots) pins the anchoring contract's
    address and chain: a bundle naming another is ``unverifiable``, as is one whose chain cannot
    answer; without a pin the bundle's own address is used and ``contract_source`` says so.
    ``bundle`` may be the file's bytes: they are read by ``ledger.core.strict_json`` (a BOM,
    non-UTF-8, a duplicate key or an integer beyond 2^53 fails ``format``). ``require_latest``
    makes a bundle whose anchor is not the contract's latest fail ``latest``. Raises
    ``InputError`` only when ``contract`` and ``trust`` disagree.
    """
    pinned = pinned_contract(contract, trust)
    try:
        if isinstance(bundle, bytes | bytearray):
            bundle = strict_json.loads(bundle)
    except VerificationError as exc:
        return _failed(_new_report(None), exc)
    report = _new_report(bundle)
    report.trust = trust.to_json() if trust is not None else None
    if require_latest:
        report.checks["latest"] = "skipped"
    try:
        if isinstance(bundle, dict) and bundle.get("version") == VERSION_V3:
            _check_v3(bundle, chain, (pinned, trust), report, require_latest)
        else:
            parsed = parse(bundle)
            _describe(parsed, report)
            _check_all(parsed, chain, (pinned, trust), report, require_latest)
    except UnverifiableError as exc:
        return _unverifiable(report, exc)
    except AnchorError as exc:  # the chain could not be asked: no verdict about the data
        return _unverifiable(report, UnverifiableError(f"the chain cannot answer: {exc}"))
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
    elif is_doc and bundle.get("version") == VERSION_V3:
        report.version = VERSION_V3
        report.checks = dict.fromkeys(v3.CHECKS_V3, "skipped")
        report.kind = str(bundle["kind"]) if bundle.get("kind") in KINDS else "lot"
        subject = bundle.get("subject") if isinstance(bundle.get("subject"), str) else None
        report.sscc, report.lot = (subject, None) if report.kind == "shipment" else (None, subject)
        if report.kind != "shipment":
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


def _check_all(
    p: Parsed, chain: ChainReader, pins: tuple[str | None, Trust | None], report: BundleReport, require_latest: bool
) -> None:
    for chain_lot, ents in p.chains:
        _check_entries(p, chain_lot, ents, report)
    if p.version == VERSION_MULTI:
        _check_lineage(p, report)
        if p.kind == "shipment":
            _check_membership(p, report)
    _check_chain_side(p.size, p.root, p.anchor, chain, pins, report, require_latest)


def _check_chain_side(
    size: int,
    root: bytes,
    anchor: dict[str, Any],
    chain: ChainReader,
    pins: tuple[str | None, Trust | None],
    report: BundleReport,
    require_latest: bool,
) -> None:
    """anchor, anchor_tx and latest (``bundle_anchor``), for every version."""
    if pins[0] is not None:
        report.contract_source = "pinned"
    reader = check_anchor(size, root, anchor, chain, *pins)
    report.checks["anchor"] = "ok"
    check_anchor_tx(size, root, anchor, reader)
    report.checks["anchor_tx"] = "ok"
    report.latest = check_latest(size, reader, require_latest)
    if require_latest:
        report.checks["latest"] = "ok"


def _check_v3(
    bundle: dict[str, Any],
    chain: ChainReader,
    pins: tuple[str | None, Trust | None],
    report: BundleReport,
    require_latest: bool,
) -> None:
    """Version 3: the checks of ``bundle_verify_v3`` in order, then the shared lineage, membership and anchor."""
    p = parse_v3(bundle)
    report.checks["format"] = "ok"
    report.entries = sum(len(ents) for _, ents in p.chains)
    report.tree_size, report.root, report.anchor = p.size, p.root.hex(), dict(p.anchor)
    report.lots = [s.removeprefix("lot:") for s, _ in p.chains if s.startswith("lot:")]
    v3.check_log_key(p, pins[1])
    report.checks["log_key"] = "ok"
    v3.check_chains(p, lambda name: report.checks.__setitem__(name, "ok"))
    body = v3.check_heads(p)
    report.checks["heads"] = "ok"
    v3.check_completeness(p, body)
    report.checks["completeness"] = "ok"
    v3.check_attribution(p)
    report.checks["attribution"] = "ok"
    view = v3.as_v2(p)
    _check_lineage(view, report)
    if p.kind == "shipment":
        _check_membership(view, report)
    _check_chain_side(p.size, p.root, p.anchor, chain, pins, report, require_latest)
    report.facts = v3.facts(p)  # only once every check passed: nothing unverified is reported


def _unverifiable(report: BundleReport, exc: UnverifiableError) -> BundleReport:
    """No verdict about the data: the chain, contract or log key is not the trusted one, or cannot answer."""
    report.verdict = "unverifiable"
    check = exc.check if exc.check in report.checks else "anchor"
    report.checks[check] = "unverifiable"
    report.failure = {"check": check, "seq": None, "index": None, "message": str(exc)}
    if report.version == VERSION_MULTI:
        report.failure["lot"] = None
    return report


def _failed(report: BundleReport, exc: VerificationError) -> BundleReport:
    check = exc.check if exc.check in report.checks else "format"
    message = str(exc) if exc.check in report.checks else f"malformed bundle: {exc}"
    report.checks[check] = "failed"
    report.failure = {"check": check, "seq": exc.seq, "index": exc.index, "message": message}
    if report.version in (VERSION_MULTI, VERSION_V3):
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


PACKING_ACTIONS = ("ADD", "DELETE")
"""The aggregation actions that change what a shipment holds; an ``OBSERVE`` of it changes nothing
(as in the store's ``ledger.store.shipments.members``, so the page, the bundle and the verifier agree)."""


def _packing_state(ents: Entries, uri: str) -> tuple[str | None, int | None, int | None]:
    """(action, seq, index) of the chain's last signed ADD or DELETE aggregation with parent ``uri``."""
    state: str | None = None
    seq: int | None = None
    at: int | None = None
    for idx, ent, _ in ents:
        ev = ent.get("event")
        if (
            isinstance(ev, dict)
            and ev.get("type") == "AggregationEvent"
            and ev.get("parentID") == uri
            and ev.get("action") in PACKING_ACTIONS
        ):
            state = str(ev.get("action"))
            seq, at = (ent.get("seq") if is_int(ent.get("seq")) else None), idx
    return state, seq, at
