"""Full-log audit: recompute everything the ledger stores from the entries, and compare.

One pass over the log in index order, ``chunk`` entries at a time (O(n) time, O(lots + log n)
memory), checking for every entry:

- ``entry``:     log indexes are gapless (a deleted row is reported at its index)
- ``record``:    the event is canonical JSON and the indexed columns agree with it
- ``signature``: Ed25519 over the statement by a registered key; ``key``: not revoked, allowed
- ``chain``:     seq and prev link the lot's entries; transformation inputs name earlier heads
- ``leaf``:      the stored leaf hash equals SHA-256(0x00 ‖ canonical entry)
- ``subtree``:   every stored subtree hash equals the one recomputed from the entries
                 (only the lowest differing node is reported; nodes above it follow from it)
- ``order``:     two entries swapped places (found from the subtree hashes they break)

and then: ``root`` (the head and the stored subtrees give the recomputed root), ``lot_head``
(each lot row's head and signed fields), ``anchor_root`` (each anchor's stored root is the
recomputed root at its size), ``anchor_chain`` (the chain holds that root; the chain is not
ahead of the log) and ``anchor_consistency`` (a consistency proof links successive anchors).
The chain is optional and passed in: anything with ``root_at(size) -> bytes``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select

from ledger import canonical, merkle, proofs, store
from ledger.audit_tree import TreeChecker
from ledger.db import read_tx
from ledger.errors import LedgerError, VerificationError
from ledger.exports.data import anchors as stored_anchors
from ledger.models import Lot, Organization, Product, SigningKey
from ledger.records import lot_fields_from_ilmd

_key = SigningKey.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
Progress = Callable[[int, int], None]


class AnchorSource(Protocol):
    def root_at(self, size: int) -> bytes: ...


@dataclass
class Finding:
    check: str
    message: str
    index: int | None = None
    lot: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "index": self.index, "lot": self.lot, "message": self.message}


@dataclass
class AuditReport:
    tree_size: int = 0
    root: str = ""
    entries: int = 0
    lots: int = 0
    anchors: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "root": self.root,
            "entries_checked": self.entries,
            "lots_checked": self.lots,
            "anchors_checked": self.anchors,
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.entries / self.seconds) if self.seconds else None,
            "findings": [f.to_json() for f in self.findings],
            "findings_truncated": self.truncated,
        }


@dataclass
class _LotState:
    seq: int = -1
    head: str | None = None
    stored_head: str | None = None  # the stored leaf hash, when it differs from the recomputed one
    fields: dict[str, Any] | None = None


class _Auditor:
    def __init__(self, conn: Connection, max_findings: int) -> None:
        from ledger.service import may_sign

        self.conn = conn
        self.may_sign = may_sign
        self.report = AuditReport()
        self.max_findings = max_findings
        self.lots: dict[str, _LotState] = {}
        self.lot_org: dict[str, str] = {
            r.lot_id: str(r.org_id) for r in conn.execute(select(_lot.c.lot_id, _lot.c.org_id))
        }
        kinds = {r.id: r.kind for r in conn.execute(select(_org.c.id, _org.c.kind))}
        self.keys: dict[str, dict[str, Any]] = {}
        for k in conn.execute(select(_key)):
            pub = Ed25519PublicKey.from_public_bytes(bytes(k.public_key))
            self.keys[k.key_id] = {
                "pub": pub,
                "org_id": k.org_id,
                "org_kind": kinds.get(k.org_id),
                "revoked_at": k.revoked_at,
            }
        self.input_refs: list[tuple[int, str, str]] = []  # (idx, input lot, head hex)

    def find(self, check: str, message: str, index: int | None = None, lot: str | None = None) -> None:
        if len(self.report.findings) >= self.max_findings:
            self.report.truncated = True
            return
        self.report.findings.append(Finding(check, message, index, lot))

    def entry(self, row: Any) -> tuple[bytes, bool]:
        """Check one stored entry; return its recomputed leaf hash and whether it is sound."""
        idx, lot = int(row.idx), str(row.lot_id)
        try:
            event = self._record(row)
            stmt = canonical.statement(lot=lot, seq=row.seq, prev=row.prev, event=event, signer=row.signer)
            data = canonical.entry_bytes(canonical.entry(stmt, row.sig))
        except (LedgerError, ValueError, TypeError) as exc:
            self.find("record", str(exc), idx, lot)
            st = self.lots.setdefault(lot, _LotState())
            st.seq, st.head, st.stored_head = int(row.seq), bytes(row.leaf_hash).hex(), None
            return bytes(row.leaf_hash), False
        leaf = merkle.leaf_hash(data)
        self._signature(row, stmt, event, idx, lot)
        self._chain(row, event, leaf, idx, lot)
        if bytes(row.leaf_hash) != leaf:
            self.find(
                "leaf", f"stored leaf hash differs: expected {leaf.hex()}, got {bytes(row.leaf_hash).hex()}", idx, lot
            )
            return leaf, False
        return leaf, True

    def _record(self, row: Any) -> dict[str, Any]:
        event = canonical.from_canonical(str(row.event).encode())
        if not isinstance(event, dict) or canonical.canonicalize(event).decode() != row.event:
            raise VerificationError("stored event is not canonical JSON of an object")
        for col, key in (("event_type", "type"), ("biz_step", "bizStep"), ("event_time", "eventTime")):
            if getattr(row, col) != event.get(key):
                raise VerificationError(
                    f"column {col} disagrees with the signed event: "
                    f"expected {event.get(key)!r}, got {getattr(row, col)!r}"
                )
        return event

    def _signature(self, row: Any, stmt: dict[str, Any], event: Mapping[str, Any], idx: int, lot: str) -> bool:
        key = self.keys.get(row.signer)
        if key is None:
            self.find("signature", f"signer is not a registered key: got {row.signer}", idx, lot)
            return False
        try:
            key["pub"].verify(base64.b64decode(row.sig, validate=True), canonical.statement_bytes(stmt))
        except (InvalidSignature, ValueError):
            self.find("signature", f"signature does not verify against {row.signer}", idx, lot)
            return False
        revoked = key["revoked_at"]
        rt = str(event.get("recordTime", ""))
        if revoked is not None and _utc(rt) >= (revoked if revoked.tzinfo else revoked.replace(tzinfo=UTC)):
            self.find("key", f"key {row.signer} was revoked at {revoked.isoformat()}; entry recorded at {rt}", idx, lot)
            return False
        owner = self.lot_org.get(lot)
        if owner is not None and not self.may_sign(key, str(event.get("bizStep")), owner):
            self.find("key", f"key {row.signer} may not sign {event.get('bizStep')} for lot {lot}", idx, lot)
            return False
        return True

    def _chain(self, row: Any, event: Mapping[str, Any], leaf: bytes, idx: int, lot: str) -> bool:
        st = self.lots.setdefault(lot, _LotState())
        ok = True
        if row.seq != st.seq + 1 or row.prev not in (st.head, st.stored_head or st.head):
            self.find(
                "chain",
                f"lot chain broken: expected seq {st.seq + 1} after {st.head}, got seq {row.seq} after {row.prev}",
                idx,
                lot,
            )
            ok = False
        if row.seq == 0 and event.get("bizStep") == "commissioning":
            qty = (event.get("quantityList") or [{}])[0]  # where ingest takes the lot's quantity from
            st.fields = lot_fields_from_ilmd(event.get("ilmd") or {}) | {
                "quantity": qty.get("quantity"),
                "unit": qty.get("uom"),
            }
        for inp in event.get("ocop:inputs", []):
            self.input_refs.append((idx, str(inp.get("lot")), str(inp.get("head"))))
        st.seq, st.head, st.stored_head = int(row.seq), leaf.hex(), bytes(row.leaf_hash).hex()
        return ok

    def lot_heads(self) -> None:
        cols = [
            _lot.c.lot_id,
            _lot.c.last_seq,
            _lot.c.head_hash,
            *(getattr(_lot.c, f) for f in _LOT_FIELDS if f != "gtin"),
        ]
        seen = set()
        q = select(*cols, _product.c.gtin).outerjoin(_product, _product.c.id == _lot.c.product_id)
        for r in self.conn.execute(q):
            seen.add(r.lot_id)
            st = self.lots.get(r.lot_id, _LotState())
            if (r.last_seq, r.head_hash) != (st.seq, st.head):
                self.find(
                    "lot_head",
                    f"lot row head differs from its entries: expected seq {st.seq} {st.head}, "
                    f"got seq {r.last_seq} {r.head_hash}",
                    None,
                    r.lot_id,
                )
            for name in _LOT_FIELDS:
                signed = (st.fields or {}).get(name)
                if st.fields is not None and _norm(getattr(r, name)) != _norm(signed):
                    self.find(
                        "lot_head",
                        f"lot field {name} differs from the signed commissioning event: "
                        f"expected {signed!r}, got {getattr(r, name)!r}",
                        None,
                        r.lot_id,
                    )
        for lot in sorted(set(self.lots) - seen):
            self.find("lot_head", f"lot {lot} has entries but no lot row", None, lot)
        self.report.lots = len(seen)

    def inputs(self) -> None:
        from ledger.models import LogEntry

        t = LogEntry.__table__  # type: ignore[attr-defined]
        heads = sorted({bytes.fromhex(h) for _, _, h in self.input_refs if len(h) == 64})
        where: dict[str, tuple[int, str]] = {}
        for i in range(0, len(heads), 400):
            q = select(t.c.idx, t.c.lot_id, t.c.leaf_hash).where(t.c.leaf_hash.in_(heads[i : i + 400]))
            where.update({bytes(r.leaf_hash).hex(): (int(r.idx), r.lot_id) for r in self.conn.execute(q)})
        for idx, lot, head in self.input_refs:
            at = where.get(head)
            if at is None or at[1] != lot or at[0] >= idx:
                self.find("chain", f"input lot {lot} has no earlier entry with hash {head}", idx)


_LOT_FIELDS = (
    "gtin",  # the lot's product
    "code",
    "quantity",
    "unit",
    "origin_province",
    "origin_commune",
    "growing_area_code",
    "plot",
    "plot_area_ha",
    "harvest_start",
    "harvest_end",
)


def _utc(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def audit(
    engine: Engine,
    *,
    chain: AnchorSource | None = None,
    chunk: int = 10_000,
    progress: Progress | None = None,
    max_findings: int = 1000,
    processes: int = 1,
) -> AuditReport:
    """Audit the whole log; the report lists every difference found (empty when all is sound).

    With ``processes`` > 1 the chunks are checked by a process pool (``ledger.audit_pool``) and
    merged in log order: the same findings, on every core.
    """
    t0 = time.perf_counter()
    with read_tx(engine) as conn:
        a = _Auditor(conn, max_findings)
        head = store.read_head(conn)
        a.report.tree_size, a.report.root = head.size, head.root.hex()
        anchors = stored_anchors(conn)
        tree = TreeChecker(conn, a.find, {x["tree_size"] for x in anchors})
        chunk = max(2, chunk - chunk % 2)  # even, so level-1 pairs never straddle two chunks
        if processes > 1 and head.size > chunk:  # one chunk is not worth starting processes
            from ledger.audit_pool import audit_chunks

            audit_chunks(engine, a, tree, head.size, chunk, processes, progress)
        else:
            for start in range(0, head.size, chunk):
                end = min(start + chunk, head.size)
                merge_chunk(a, tree, start, end, *audit_chunk(a, conn, start, end))
                if progress:
                    progress(end, head.size)
        tree.finish()
        _check_root(a, conn, head, tree.root(), bool(tree.tainted))
        a.lot_heads()
        a.inputs()
        _check_anchors(a, conn, anchors, tree.roots, chain, head.size)
    a.report.findings.sort(key=lambda f: (f.index is None, f.index or 0))
    a.report.seconds = time.perf_counter() - t0
    return a.report


def audit_chunk(a: _Auditor, conn: Connection, start: int, end: int) -> tuple[list[bytes], list[int]]:
    """Check the entries at log indexes [start, end): their recomputed leaf hashes, and the
    indexes whose entry is missing or unsound (their subtrees are tainted)."""
    rows = {int(r.idx): r for r in store.entries_range(conn, start, end)}
    leaves: list[bytes] = []
    tainted: list[int] = []
    for i in range(start, end):
        row = rows.get(i)
        if row is None:
            a.find("entry", f"log entry missing: expected log index {i}, got no row", i)
            leaves.append(b"\x00" * 32)
            tainted.append(i)
            continue
        leaf, sound = a.entry(row)
        leaves.append(leaf)
        if not sound:
            tainted.append(i)
    return leaves, tainted


def merge_chunk(
    a: _Auditor,
    tree: TreeChecker,
    start: int,
    end: int,
    leaves: list[bytes],
    tainted: list[int],
    stored: dict[tuple[int, int], bytes] | None = None,
) -> None:
    """Feed a checked chunk's leaves to the tree check, in log order."""
    for i in tainted:
        tree.taint(i)
    tree.add(start, leaves, stored)
    a.report.entries = end


def _check_root(a: _Auditor, conn: Connection, head: store.TreeHead, recomputed: bytes, tainted: bool) -> None:
    if recomputed != head.root and not tainted:
        a.find("root", f"log head root differs from the entries: expected {recomputed.hex()}, got {head.root.hex()}")
    try:
        nodes_root = proofs.root_from_nodes(head.size, store.read_nodes(conn, proofs.root_coords(head.size)))
    except VerificationError as exc:
        a.find("root", str(exc))
        return
    if nodes_root != head.root:
        a.find(
            "root",
            f"stored subtree hashes give another root than the head: "
            f"expected {head.root.hex()}, got {nodes_root.hex()}",
        )


def _check_anchors(
    a: _Auditor,
    conn: Connection,
    anchors: list[dict[str, Any]],
    roots: Mapping[int, bytes],
    chain: AnchorSource | None,
    size: int,
) -> None:
    prev: tuple[int, bytes] | None = None
    for x in anchors:
        n, stored = x["tree_size"], bytes.fromhex(x["root"])
        where = f"anchor at tree size {n} (tx {x['tx_hash']})"
        a.report.anchors += 1
        if n > size:
            a.find("anchor_root", f"{where} is beyond the log: expected tree size <= {size}, got {n}")
            continue
        if roots.get(n) != stored:
            a.find(
                "anchor_root",
                f"{where}: stored root differs from the entries: "
                f"expected {roots.get(n, b'').hex()}, got {stored.hex()}",
            )
        on_chain = stored
        _check_anchor_target(a, x, where, chain)
        if chain is not None:
            on_chain = bytes(chain.root_at(n))
            if on_chain != stored:
                a.find(
                    "anchor_chain",
                    f"{where}: the chain holds another root: expected {on_chain.hex()}, got {stored.hex()}",
                )
        if prev is not None:
            try:
                proof = store.consistency_proof(conn, prev[0], n)
                merkle.verify_consistency(prev[0], n, proof, prev[1], on_chain)
            except LedgerError as exc:
                a.find("anchor_consistency", f"anchors at {prev[0]} and {n} are not consistent: {exc}")
        prev = (n, on_chain)
    latest = getattr(chain, "latest_tree_size", None)
    if callable(latest) and int(latest()) > size:
        a.find(
            "anchor_chain", f"the chain anchors a larger log than stored: expected tree size <= {size}, got {latest()}"
        )


def _check_anchor_target(a: _Auditor, x: Mapping[str, Any], where: str, chain: AnchorSource | None) -> None:
    """The anchor row names the chain and contract being audited (when the chain says which it is)."""
    chain_id, address = getattr(chain, "chain_id", None), getattr(chain, "address", None)
    if chain_id is not None and int(x["chain_id"]) != int(chain_id):
        a.find("anchor_chain", f"{where}: recorded on another chain: expected chain id {chain_id}, got {x['chain_id']}")
    if address is not None and str(x["contract"]).lower() != str(address).lower():
        a.find("anchor_chain", f"{where}: recorded for another contract: expected {address}, got {x['contract']}")
