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

Verdicts: ``verified`` (all checks pass, every entry anchored), ``pending`` (all pass, some
entries not anchored yet), ``tampered`` (a check failed), ``not_found``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.core import canonical, merkle, signing
from ledger.core.records import lot_fields_from_ilmd
from ledger.errors import LedgerError, VerificationError

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


AnchorCheck = Callable[[int, bytes], str]
"""(log index, leaf hash) -> "ok" | "pending"; raises VerificationError if the chain disagrees."""


def statement_of(row: Mapping[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return canonical.statement(lot=row["lot_id"], seq=row["seq"], prev=row["prev"], event=event, signer=row["signer"])


def verify_lot(
    data: LotData, may_sign: Callable[[Mapping[str, Any], str, str], bool], anchor: AnchorCheck | None = None
) -> LotReport:
    """Check every entry of a lot; stop at the first failure."""
    report = LotReport(data.lot_id, "pending", data.tree_size, data.tree_root.hex())
    report.anchor = getattr(anchor, "info", None)  # the anchor the check used (ledger.chain.check)
    if data.lot_row is None and not data.entries:
        report.verdict = "not_found"
        return report
    prev_leaf: bytes | None = None
    anchored_all = True
    for i, row in enumerate(data.entries):
        check = EntryCheck(int(row["seq"]), int(row["idx"]), str(row["biz_step"]))
        report.entries.append(check)
        try:
            leaf = _check_entry(data, row, i, prev_leaf, check, may_sign)
            if anchor is None:
                check.checks["anchor"] = "pending"
            else:
                check.checks["anchor"] = anchor(int(row["idx"]), leaf)
        except (VerificationError, LedgerError) as exc:
            failed = next(c for c in CHECKS if c not in check.checks)
            check.checks[failed] = "failed"
            check.error = str(exc)
            return _fail(report, check, failed, str(exc))
        anchored_all = anchored_all and check.checks["anchor"] == "ok"
        prev_leaf = leaf
    # After the entries, so that a bad stored node is blamed on the entry whose proof reads it;
    # this catches the rest (a bad node that only the root reads, or an edited log head).
    if data.nodes_root != data.tree_root:
        return _fail(
            report,
            None,
            "inclusion",
            "stored subtree hashes give a different root than the log head: "
            f"expected {data.tree_root.hex()}, got {data.nodes_root.hex()}",
        )
    problem = _check_lot_row(data, prev_leaf)
    if problem:
        seq, index, name, message = problem
        for check in report.entries:
            if check.index == index:
                check.checks[name], check.error = "failed", message
        report.verdict = "tampered"
        report.failure = Failure(seq, index, name, message)
        return report
    report.verdict = "verified" if anchored_all and data.entries else "pending"
    return report


def _fail(report: LotReport, check: EntryCheck | None, name: str, message: str) -> LotReport:
    report.verdict = "tampered"
    report.failure = Failure(check.seq if check else None, check.index if check else None, name, message)
    return report


def _check_entry(
    data: LotData,
    row: Mapping[str, Any],
    i: int,
    prev_leaf: bytes | None,
    check: EntryCheck,
    may_sign: Callable[[Mapping[str, Any], str, str], bool],
) -> bytes:
    event = _check_record(row)
    check.checks["record"] = "ok"
    stmt = statement_of(row, event)
    key = data.keys.get(row["signer"])
    if key is None:
        raise VerificationError(f"signer is not a registered key: got {row['signer']}")
    signing.verify_signature(bytes(key["public_key"]), canonical.statement_bytes(stmt), row["sig"])
    check.checks["signature"] = "ok"
    _check_key(key, event, data.lot_row, row["signer"], may_sign)
    check.checks["key"] = "ok"
    _check_chain(data, row, i, prev_leaf, event)
    check.checks["chain"] = "ok"
    leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, row["sig"])))
    if bytes(row["leaf_hash"]) != leaf:
        raise VerificationError(
            f"stored leaf hash differs from the entry's: expected {leaf.hex()}, got {bytes(row['leaf_hash']).hex()}"
        )
    check.checks["leaf"] = "ok"
    proof = data.proofs.get(int(row["idx"]))
    if proof is None:
        raise VerificationError(f"no inclusion proof for log index {row['idx']} at tree size {data.tree_size}")
    merkle.verify_inclusion(leaf, int(row["idx"]), data.tree_size, proof, data.tree_root)
    check.checks["inclusion"] = "ok"
    return leaf


def _check_record(row: Mapping[str, Any]) -> dict[str, Any]:
    event = canonical.from_canonical(str(row["event"]).encode())
    if not isinstance(event, dict):
        raise VerificationError("stored event is not a JSON object")
    if canonical.canonicalize(event).decode() != row["event"]:
        raise VerificationError("stored event is not in canonical form")
    for col, key in (("event_type", "type"), ("biz_step", "bizStep"), ("event_time", "eventTime")):
        if row[col] != event.get(key):
            raise VerificationError(
                f"column {col} disagrees with the signed event: expected {event.get(key)!r}, got {row[col]!r}"
            )
    return event


def _check_key(
    key: Mapping[str, Any],
    event: Mapping[str, Any],
    lot_row: Mapping[str, Any] | None,
    kid: str,
    may_sign: Callable[[Mapping[str, Any], str, str], bool],
) -> None:
    revoked = key.get("revoked_at")
    recorded = _parse_record_time(event.get("recordTime"))
    if revoked is not None:
        revoked = revoked if revoked.tzinfo else revoked.replace(tzinfo=UTC)
        if recorded >= revoked:
            raise VerificationError(
                f"key {kid} was revoked at {revoked.isoformat()}; entry recorded at {event.get('recordTime')}"
            )
    if lot_row is not None and not may_sign(key, str(event.get("bizStep")), str(lot_row["org_id"])):
        raise VerificationError(
            f"key {kid} of organization {key['org_id']} may not sign {event.get('bizStep')} for this lot"
        )


def _parse_record_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise VerificationError(f"recordTime is not a timestamp: got {value!r}") from exc


def _check_chain(
    data: LotData, row: Mapping[str, Any], i: int, prev_leaf: bytes | None, event: Mapping[str, Any]
) -> None:
    if row["lot_id"] != data.lot_id:
        raise VerificationError(f"entry belongs to another lot: expected {data.lot_id}, got {row['lot_id']}")
    if row["seq"] != i:
        raise VerificationError(f"sequence number out of order: expected {i}, got {row['seq']}")
    want = prev_leaf.hex() if prev_leaf is not None else None
    if row["prev"] != want:
        raise VerificationError(
            f"prev hash does not link to the lot's previous entry: expected {want}, got {row['prev']}"
        )
    for inp in event.get("ocop:inputs", []):
        at = data.input_heads.get((str(inp.get("lot")), str(inp.get("head"))))
        if at is None or at >= int(row["idx"]):
            raise VerificationError(f"input lot {inp.get('lot')} has no earlier entry with hash {inp.get('head')}")


def _check_lot_row(data: LotData, last_leaf: bytes | None) -> tuple[int | None, int | None, str, str] | None:
    """Compare the lot row with the entries: (seq, index, check, message) of a mismatch.

    The failure names an entry where there is one: the missing entry the lot's head points
    past, the newest entry the head disagrees with, or the commissioning entry whose signed
    ``ilmd`` the lot's master data contradicts.
    """
    row = data.lot_row
    if row is None:
        first = data.entries[0]
        return (int(first["seq"]), int(first["idx"]), "record", f"lot {data.lot_id} has entries but no lot record")
    if not data.entries:
        return (0, None, "chain", f"lot {data.lot_id} has no entries: expected its commissioning entry at seq 0")
    last = data.entries[-1]
    if int(row["last_seq"]) != int(last["seq"]) or row["head_hash"] != (last_leaf.hex() if last_leaf else None):
        missing = int(row["last_seq"]) > int(last["seq"])
        return (
            int(last["seq"]) + 1 if missing else int(last["seq"]),
            None if missing else int(last["idx"]),
            "chain",
            f"lot head says seq {row['last_seq']} ({row['head_hash']}), "
            f"but the newest stored entry is seq {last['seq']}",
        )
    first_row = data.entries[0]
    first = canonical.from_canonical(str(first_row["event"]).encode())
    signed = lot_fields_from_ilmd(first.get("ilmd") or {})
    qty = (first.get("quantityList") or [{}])[0]  # where ingest takes the lot's quantity from
    signed |= {"quantity": qty.get("quantity"), "unit": qty.get("uom")}
    for name, value in signed.items():
        stored = row.get(name) if name != "gtin" else row.get("product_gtin", data.lot_id[:14])
        if _norm(stored) != _norm(value):
            return (
                int(first_row["seq"]),
                int(first_row["idx"]),
                "record",
                f"lot field {name} differs from the signed commissioning event: expected {value!r}, got {stored!r}",
            )
    return None


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
