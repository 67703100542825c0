"""The full-log audit's checks, shared by the single-process audit and the process pool.

See ``ledger.audit.auditor`` for what is checked; this module holds the checker (``_Auditor``), the
per-chunk pass (``audit_chunk``), the merge of a chunk into the tree (``merge_chunk``) and the
checks that follow the last chunk (root, anchors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, select

from ledger.audit.tree import TreeChecker
from ledger.audit.v2check import V2Checker
from ledger.core import canonical, chaincheck, merkle, proofs, statements
from ledger.core.heads_state import MapState
from ledger.core.ports import ChainReader
from ledger.errors import LedgerError, VerificationError
from ledger.store import heads_map, v2log
from ledger.store import log as store
from ledger.store.models import Lot, Organization, Product, SigningKey

_key = SigningKey.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
Progress = Callable[[int, int], None]
_COLUMN_NAMES = tuple(col for col, _ in chaincheck.COLUMNS)  # the indexed columns ``check_record`` compares
_columns = attrgetter(*_COLUMN_NAMES)


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
        from ledger.core.policy import may_sign

        self.conn = conn
        self.may_sign = may_sign
        self.report = AuditReport()
        self.max_findings = max_findings
        self.lots: dict[str, _LotState] = {}
        self.lot_org: dict[str, str] = {
            r.lot_id: str(r.org_id) for r in conn.execute(select(_lot.c.lot_id, _lot.c.org_id))
        }
        kinds = {r.id: r.kind for r in conn.execute(select(_org.c.id, _org.c.kind))}
        self.keys: dict[str, dict[str, Any]] = {
            k.key_id: {
                "public_key": bytes(k.public_key),
                "org_id": k.org_id,
                "org_kind": kinds.get(k.org_id),
                "revoked_at": k.revoked_at,
            }
            for k in conn.execute(select(_key))
        }
        self.input_refs: list[tuple[int, list[tuple[str, str]]]] = []  # (idx, [(input lot, head hex)])
        self.v2 = V2Checker(conn, self.keys)
        self.map = MapState()  # the heads map of the entries merged so far (``heads_map`` check)
        self.lot_rows: list[Any] = []  # the lot rows and the ``master_data`` findings, read by ``prefetch``
        self.table_findings: list[tuple[str, str, int | None, str | None]] = []
        self.map_ops: list[heads_map.MapOp | tuple[Any, ...]] = []  # the chunk's entries, for the map, in log order

    def find(self, check: str, message: str, index: int | None = None, lot: str | None = None) -> None:
        if len(self.report.findings) >= self.max_findings:
            self.report.truncated = True
            return
        self.report.findings.append(Finding(check, message, index, lot))

    def entry(self, row: Any) -> tuple[bytes, bool]:
        """Check one stored entry; return its recomputed leaf hash and whether it is sound."""
        if v2log.is_v2(row):
            return self.v2.entry(row, self.find)
        idx, lot, text = int(row.idx), str(row.lot_id), str(row.event)
        try:
            event = chaincheck.check_record(text, dict(zip(_COLUMN_NAMES, _columns(row), strict=True)))
            stmt = canonical.statement(lot=lot, seq=row.seq, prev=row.prev, event=event, signer=row.signer)
            # the stored text was just found canonical: the statement's and the entry's bytes are
            # assembled from it (canonical.CanonicalStatement), not canonicalized twice more
            cs = canonical.CanonicalStatement(stmt, text.encode())
            data = cs.entry_bytes(row.sig)
        except (LedgerError, ValueError, TypeError) as exc:
            self.find("record", str(exc), idx, lot)
            st = self.lots.setdefault(lot, _LotState())
            st.seq, st.head, st.stored_head = int(row.seq), bytes(row.leaf_hash).hex(), None
            return bytes(row.leaf_hash), False
        leaf = merkle.leaf_hash(data)
        self._signature(row, stmt, event, idx, lot, cs.bytes)
        self._chain(row, stmt, event, leaf)
        try:
            chaincheck.check_leaf(bytes(row.leaf_hash), leaf)
        except VerificationError as exc:
            self.find("leaf", f"stored leaf hash differs: expected {exc.expected}, got {exc.found}", idx, lot)
            return leaf, False
        return leaf, True

    def _signature(
        self, row: Any, stmt: dict[str, Any], event: Mapping[str, Any], idx: int, lot: str, data: bytes | None = None
    ) -> None:
        """``signature`` and ``key`` findings of one entry (``data``: the statement's canonical bytes)."""
        key = self.keys.get(row.signer)
        try:
            chaincheck.check_signature(key["public_key"] if key else None, row.signer, stmt, row.sig, data)
            if key is not None:
                chaincheck.check_key_valid(key, row.signer, event, self.lot_org.get(lot), self.may_sign)
        except VerificationError as exc:
            self.find(exc.check or "signature", str(exc), idx, lot)

    def _chain(self, row: Any, stmt: Mapping[str, Any], event: Mapping[str, Any], leaf: bytes) -> None:
        """``chain`` findings: seq and prev link to the lot's previous entry (``_link``); remember the
        commissioning fields and the transformation inputs."""
        idx, lot = int(row.idx), str(row.lot_id)
        self._link(idx, lot, stmt, leaf, bytes(row.leaf_hash))
        st = self.lots[lot]
        try:
            if row.seq == 0 and event.get("bizStep") == "commissioning":
                st.fields = chaincheck.signed_lot_fields(event)
            refs = chaincheck.input_refs(event)
            if refs:  # an entry without inputs has nothing to check in ``inputs``
                self.input_refs.append((idx, refs))
        except VerificationError as exc:
            self.find(exc.check or "record", str(exc), idx, lot)

    def _link(self, idx: int, lot: str, stmt: Mapping[str, Any], leaf: bytes, stored_leaf: bytes) -> None:
        """The entry's seq and prev link to the lot's previous entry (to its stored leaf hash too, so
        that one bad leaf hash is one finding); the entry becomes the lot's head."""
        st = self.lots.get(lot)
        if st is None:
            st = self.lots[lot] = _LotState()
        try:
            chaincheck.check_link(lot, stmt, st.seq + 1, st.head, *([st.stored_head] if st.stored_head else []))
        except VerificationError as exc:
            self.find("chain", str(exc), idx, lot)
        st.seq, st.head, st.stored_head = int(stmt["seq"]), leaf.hex(), stored_leaf.hex()

    def map_op(self, row: Any, leaf: bytes) -> None:
        """Remember what the entry does to the heads map (applied in log order by ``merge_chunk``)."""
        idx, subject, seq = int(row.idx), str(row.lot_id), int(row.seq)
        try:
            op = heads_map.map_op(idx, subject, seq, leaf, str(row.event_type), str(row.event))
        except (LedgerError, ValueError):  # an unreadable aggregation: the ``record`` check reports it
            op = heads_map.MapOp(idx, subject, seq, leaf, v2log.is_v2(row), None, None)
        self.map_ops.append(op)

    def heads_map(self) -> None:
        """``heads_map`` findings: every heads entry commits the map recomputed from the entries before it."""
        for op in self.map_ops:  # a MapOp, or its plain tuple from a pool worker
            idx, subject = op[0], op[1]
            if subject == statements.HEADS_SUBJECT:
                problem = heads_map.heads_difference(self.map, heads_map.MapOp(*op))
                if problem is not None:
                    self.find("heads_map", problem, idx, subject)
            try:
                heads_map.apply_op(self.map, op)
            except (LedgerError, ValueError) as exc:  # a leaf the map cannot hold (its record is reported)
                self.find("heads_map", f"entry cannot enter the heads map: {exc}", idx, subject)
        self.map_ops = []

    def prefetch(self) -> None:
        """The reads of the checks after the scan that do not depend on it: the lot rows (``lot_heads``) and
        the ``master_data`` check (its findings are kept for ``tables``). With the process pool this runs
        while the workers check the first chunks, instead of after the last one."""
        cols = [
            _lot.c.lot_id,
            _lot.c.last_seq,
            _lot.c.head_hash,
            *(getattr(_lot.c, f) for f in _LOT_FIELDS if f != "gtin"),
        ]
        q = select(*cols, _product.c.gtin).outerjoin(_product, _product.c.id == _lot.c.product_id)
        self.lot_rows = list(self.conn.execute(q).all())
        self.table_findings = []

        def keep(check: str, message: str, index: int | None = None, lot: str | None = None) -> None:
            self.table_findings.append((check, message, index, lot))

        self.v2.tables(self.conn, keep)

    def tables(self) -> None:
        """``master_data`` findings (found by ``prefetch``)."""
        for f in self.table_findings:
            self.find(*f)

    def lot_heads(self) -> None:
        seen = set()
        for r in self.lot_rows:
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
            if st.fields is not None:
                for problem in chaincheck.lot_field_mismatches(dict(r._mapping), st.fields):
                    self.find("lot_head", str(problem), None, r.lot_id)
        for lot in sorted(set(self.lots) - seen):
            self.find("lot_head", f"lot {lot} has entries but no lot row", None, lot)
        self.report.lots = len(seen)

    def inputs(self) -> None:
        """Transformation inputs name earlier entries of the input lots (read in batches)."""
        from ledger.store.models import LogEntry

        t = LogEntry.__table__  # type: ignore[attr-defined]
        heads = sorted({bytes.fromhex(h) for _, refs in self.input_refs for _, h in refs if _is_hash(h)})
        where: dict[str, tuple[int, str]] = {}
        for i in range(0, len(heads), 400):
            q = select(t.c.idx, t.c.lot_id, t.c.leaf_hash).where(t.c.leaf_hash.in_(heads[i : i + 400]))
            where.update({bytes(r.leaf_hash).hex(): (int(r.idx), r.lot_id) for r in self.conn.execute(q)})

        def head_index(lot: str, head: str) -> int | None:
            at = where.get(head)
            return at[0] if at is not None and at[1] == lot else None

        for idx, refs in self.input_refs:
            try:
                chaincheck.check_input_refs(refs, idx, head_index)
            except VerificationError as exc:
                self.find("chain", str(exc), idx)


def _is_hash(text: str) -> bool:
    try:
        return len(bytes.fromhex(text)) == 32
    except ValueError:
        return False


_LOT_FIELDS = (
    "gtin",  # the lot's product
    "code",
    "quantity",
    "unit",
    "origin_province",
    "origin_commune",
    "growing_area_code",
    "packing_house_code",
    "plot",
    "plot_area_ha",
    "harvest_start",
    "harvest_end",
)


def audit_chunk(a: _Auditor, conn: Connection, start: int, end: int) -> tuple[list[bytes], list[int]]:
    """Check the entries at log indexes [start, end): their recomputed leaf hashes, and the
    indexes whose entry is missing or unsound (their subtrees are tainted)."""
    rows = {int(r.idx): r for r in store.entry_tuples(conn, start, end)}
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
        a.map_op(row, leaf)
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
    a.heads_map()
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
    chain: ChainReader | None,
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


def _check_anchor_target(a: _Auditor, x: Mapping[str, Any], where: str, chain: ChainReader | None) -> None:
    """The anchor row names the chain and contract being audited (when the chain says which it is)."""
    chain_id, address = getattr(chain, "chain_id", None), getattr(chain, "address", None)
    if chain_id is not None and int(x["chain_id"]) != int(chain_id):
        a.find("anchor_chain", f"{where}: recorded on another chain: expected chain id {chain_id}, got {x['chain_id']}")
    if address is not None and str(x["contract"]).lower() != str(address).lower():
        a.find("anchor_chain", f"{where}: recorded for another contract: expected {address}, got {x['contract']}")
