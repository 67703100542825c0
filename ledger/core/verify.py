"""Verification of a lot's history from plain data (pure: the caller reads the store).

Each entry is checked in this order, and the first failure names the entry and the check:

- ``record``:    the stored event is canonical JSON and the stored columns agree with it
- ``signature``: Ed25519 over the statement's canonical bytes, by a registered key
- ``key``:       the key was not revoked when the entry was recorded, and may sign for this lot
- ``chain``:     seq counts up from 0 and ``prev`` is the leaf hash of the lot's previous entry
                 (a transformation's input heads must be entries of the input lots)
- ``leaf``:      the stored leaf hash is SHA-256(0x00 ‖ canonical entry)
- ``inclusion``: the leaf is included under the log's tree head at its index
- ``anchor``:    an anchor on chain covers the entry and the chain holds that anchor's root

and then the product facts the page shows (name, category, OCOP stars and year, certifications)
against the product's signed format v2 chain (``ledger.core.factcheck``): an edited row is
``tampered``, the message naming the fact.

The per-entry checks are ``ledger.core.chaincheck`` (the same code checks bundles and the full
log); each failure is a ``VerificationError`` whose ``check``, ``seq`` and ``index`` fields fill
the report's ``failure``.

Verdicts: ``verified`` (all checks pass, every entry anchored), ``pending`` (all pass, some
entries not anchored yet), ``tampered`` (a check failed), ``not_found``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.core import canonical, chaincheck, merkle
from ledger.core.chaincheck import MaySign
from ledger.core.factcheck import ProductChain, check_product
from ledger.errors import ChainLinkError, LedgerError, VerificationError

CHECKS = ("record", "signature", "key", "chain", "leaf", "inclusion", "anchor")


@dataclass
class EntryCheck:
    seq: int
    index: int
    biz_step: str
    checks: dict[str, str] = field(default_factory=dict)  # check -> ok | failed | pending | skipped
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "index": self.index,
            "bizStep": self.biz_step,
            "checks": self.checks,
            "error": self.error,
        }


@dataclass
class Failure:
    seq: int | None
    index: int | None
    check: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "index": self.index, "check": self.check, "message": self.message}


@dataclass
class LotReport:
    lot: str
    verdict: str
    tree_size: int
    root: str
    entries: list[EntryCheck] = field(default_factory=list)
    failure: Failure | None = None
    anchor: dict[str, Any] | None = None
    product: dict[str, Any] | None = None  # the signed product version in force at commissioning (pages)

    def to_json(self) -> dict[str, Any]:
        return {
            "lot": self.lot,
            "verdict": self.verdict,
            "tree_size": self.tree_size,
            "root": self.root,
            "failure": self.failure.to_json() if self.failure else None,
            "anchor": self.anchor,
            "entries": [e.to_json() for e in self.entries],
        }


@dataclass
class LotData:
    """What the store holds about one lot, as plain values."""

    lot_id: str
    lot_row: Mapping[str, Any] | None
    entries: Sequence[Mapping[str, Any]]
    keys: Mapping[str, Mapping[str, Any]]  # key id -> {public_key, org_id, org_kind, revoked_at}
    tree_size: int
    tree_root: bytes
    nodes_root: bytes  # the root recomputed from stored subtree hashes
    proofs: Mapping[int, Sequence[bytes]]  # log index -> inclusion proof at tree_size
    input_heads: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (lot, leaf hex) -> idx
    product: ProductChain | None = None  # the product's signed log chain (format v2), if it has one


AnchorCheck = Callable[[int, bytes], str]
"""(log index, leaf hash) -> "ok" | "pending"; raises VerificationError if the chain disagrees."""


def statement_of(row: Mapping[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return canonical.statement(lot=row["lot_id"], seq=row["seq"], prev=row["prev"], event=event, signer=row["signer"])


def verify_lot(data: LotData, may_sign: MaySign, anchor: AnchorCheck | None = None) -> LotReport:
    """Check every entry of a lot; stop at the first failure."""
    report = LotReport(data.lot_id, "pending", data.tree_size, data.tree_root.hex())
    report.anchor = getattr(anchor, "info", None)  # the anchor the check used (ledger.chain.check)
    if data.lot_row is None and not data.entries:
        report.verdict = "not_found"
        return report
    try:
        anchored_all, last_leaf = _check_entries(data, may_sign, anchor, report)
        # After the entries, so that a bad stored node is blamed on the entry whose proof reads it;
        # this catches the rest (a bad node that only the root reads, or an edited log head).
        _check_nodes_root(data)
        _check_lot_row(data, last_leaf)
        if data.product is not None:
            report.product = check_product(data.product, int(data.entries[0]["idx"]))
    except VerificationError as exc:
        return _fail(report, exc)
    report.verdict = "verified" if anchored_all and data.entries else _pending_or_unverifiable(report)
    return report


UNVERIFIABLE_ANCHOR = frozenset({"unreachable"})
"""Anchor statuses (``ledger.chain.check``) under which the chain cannot be asked: no verdict on the data."""


def _pending_or_unverifiable(report: LotReport) -> str:
    """Valid so far: ``unverifiable`` when the chain could not answer (never ``tampered``), else ``pending``."""
    status = report.anchor.get("status") if isinstance(report.anchor, dict) else None
    return "unverifiable" if status in UNVERIFIABLE_ANCHOR else "pending"


def _check_entries(
    data: LotData, may_sign: MaySign, anchor: AnchorCheck | None, report: LotReport
) -> tuple[bool, bytes | None]:
    """Check the entries in order, each with its row in the report: (all anchored, last leaf hash)."""
    prev_leaf: bytes | None = None
    anchored_all = True
    for i, row in enumerate(data.entries):
        check = EntryCheck(int(row["seq"]), int(row["idx"]), str(row["biz_step"]))
        report.entries.append(check)
        try:
            prev_leaf = _check_entry(data, row, i, prev_leaf, check, may_sign)
            check.checks["anchor"] = _check_anchor(anchor, int(row["idx"]), prev_leaf)
        except VerificationError as exc:
            raise exc.at(lot=data.lot_id, seq=check.seq, index=check.index) from None
        anchored_all = anchored_all and check.checks["anchor"] == "ok"
    return anchored_all, prev_leaf


def _fail(report: LotReport, exc: VerificationError) -> LotReport:
    """The verdict is tampered; the failure (and the failed entry's row, if stored) names the check."""
    name = exc.check or "record"
    for entry in report.entries:
        if exc.index is not None and entry.index == exc.index:
            entry.checks[name], entry.error = "failed", str(exc)
    report.verdict = "tampered"
    report.failure = Failure(exc.seq, exc.index, name, str(exc))
    return report


def _check_entry(
    data: LotData,
    row: Mapping[str, Any],
    i: int,
    prev_leaf: bytes | None,
    check: EntryCheck,
    may_sign: MaySign,
) -> bytes:
    """The checks of ``ledger.core.chaincheck`` in order; returns the entry's leaf hash."""
    event = chaincheck.check_record(str(row["event"]), row)
    check.checks["record"] = "ok"
    stmt = statement_of(row, event)
    key = data.keys.get(row["signer"])
    chaincheck.check_signature(bytes(key["public_key"]) if key else None, row["signer"], stmt, row["sig"])
    check.checks["signature"] = "ok"
    assert key is not None  # check_signature raised otherwise
    owner = str(data.lot_row["org_id"]) if data.lot_row is not None else None
    chaincheck.check_key_valid(key, row["signer"], event, owner, may_sign)
    check.checks["key"] = "ok"
    chaincheck.check_link(data.lot_id, stmt, i, prev_leaf.hex() if prev_leaf is not None else None)
    chaincheck.check_inputs(event, int(row["idx"]), lambda lot, head: data.input_heads.get((lot, head)))
    check.checks["chain"] = "ok"
    leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, row["sig"])))
    chaincheck.check_leaf(bytes(row["leaf_hash"]), leaf)
    check.checks["leaf"] = "ok"
    chaincheck.check_inclusion(leaf, int(row["idx"]), data.tree_size, data.proofs.get(int(row["idx"])), data.tree_root)
    check.checks["inclusion"] = "ok"
    return leaf


def _check_anchor(anchor: AnchorCheck | None, index: int, leaf: bytes) -> str:
    """ "ok" or "pending"; whatever the chain check raises is an ``anchor`` failure."""
    if anchor is None:
        return "pending"
    try:
        return anchor(index, leaf)
    except LedgerError as exc:
        raise VerificationError(str(exc), check="anchor", index=index) from exc


def _check_nodes_root(data: LotData) -> None:
    if data.nodes_root != data.tree_root:
        raise VerificationError(
            "stored subtree hashes give a different root than the log head: "
            f"expected {data.tree_root.hex()}, got {data.nodes_root.hex()}",
            check="inclusion",
            lot=data.lot_id,
            expected=data.tree_root.hex(),
            found=data.nodes_root.hex(),
        )


def _check_lot_row(data: LotData, last_leaf: bytes | None) -> None:
    """The lot row agrees with the entries; a failure names an entry where there is one.

    That is the missing entry the lot's head points past, the newest entry the head disagrees
    with, or the commissioning entry whose signed ``ilmd`` the lot's master data contradicts.
    """
    row, lot = data.lot_row, data.lot_id
    if row is None:
        first = data.entries[0]
        raise VerificationError(
            f"lot {lot} has entries but no lot record", check="record", lot=lot, seq=first["seq"], index=first["idx"]
        )
    if not data.entries:
        raise ChainLinkError(f"lot {lot} has no entries: expected its commissioning entry at seq 0", lot=lot, seq=0)
    last = data.entries[-1]
    if int(row["last_seq"]) != int(last["seq"]) or row["head_hash"] != (last_leaf.hex() if last_leaf else None):
        missing = int(row["last_seq"]) > int(last["seq"])
        raise ChainLinkError(
            f"lot head says seq {row['last_seq']} ({row['head_hash']}), "
            f"but the newest stored entry is seq {last['seq']}",
            lot=lot,
            seq=int(last["seq"]) + 1 if missing else int(last["seq"]),
            index=None if missing else int(last["idx"]),
            expected=row["last_seq"],
            found=last["seq"],
        )
    first_row = data.entries[0]
    stored = {**row, "gtin": row.get("product_gtin", lot[:14])}
    try:
        first = chaincheck.check_record(str(first_row["event"]), {})
        chaincheck.check_lot_fields(stored, chaincheck.signed_lot_fields(first))
    except VerificationError as exc:
        raise exc.at(lot=lot, seq=int(first_row["seq"]), index=int(first_row["idx"])) from None
