"""The append-only log in the database: entries, subtree hashes, the head, and proofs.

Every function takes an open ``Connection`` (see ``ledger.store.db``): the caller owns the
transaction. Appends must run in ``write_tx``; ``lock_head`` is their first statement, so
log indexes are taken one writer at a time and stay gapless and unique.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, TextClause, bindparam, func, insert, select, text, update

from ledger.core import merkle, proofs
from ledger.errors import NotFound, VerificationError
from ledger.store.db import Statement, bind_value, driver_sql, driver_together, in_transaction
from ledger.store.models import LogEntry, LogHead, Lot, TreeNode

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_node = TreeNode.__table__  # type: ignore[attr-defined]
_head = LogHead.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_CHUNK = 200  # nodes per query: 400 parameters, well under SQLite's limit


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.size, "root": self.root.hex()}


def ensure_head(conn: Connection) -> None:
    """Create the single head row of an empty log if it is not there yet."""
    if conn.execute(select(_head.c.id).where(_head.c.id == 1)).first() is None:
        conn.execute(insert(_head).values(id=1, size=0, root=merkle.EMPTY_ROOT, updated_at=_now()))


_LOCK_HEAD = "UPDATE log_head SET updated_at = :now WHERE id = 1 RETURNING size, root"


def _lock_statement(conn: Connection) -> Statement:
    return _LOCK_HEAD, {"now": bind_value(conn, _head.c.updated_at, _now())}


def lock_head(conn: Connection, *, begin: bool = False) -> TreeHead:
    """Take the log's write lock (the head row) and return the head as committed (one round trip).

    ``begin``: the connection may be in autocommit mode; start the transaction with the lock
    (``driver_together``)."""
    if begin:
        rows = driver_together(conn, [_lock_statement(conn)], begin=True)[0]
        return _locked(rows[0] if rows else None, conn)
    return _locked(driver_sql(conn, *_lock_statement(conn)).first())


def _locked(row: Any, conn: Connection | None = None) -> TreeHead:
    if conn is not None and not in_transaction(conn):
        raise VerificationError("the log head was locked outside a transaction: expected one to be open")
    if row is None:
        raise VerificationError("log head row is missing: expected 1 row, got 0 (run migrations)")
    return TreeHead(int(row.size), bytes(row.root))


def read_head(conn: Connection) -> TreeHead:
    row = conn.execute(select(_head.c.size, _head.c.root).where(_head.c.id == 1)).first()
    if row is None:
        return TreeHead(0, merkle.EMPTY_ROOT)
    return TreeHead(int(row.size), bytes(row.root))


def read_nodes(conn: Connection, coords: Iterable[proofs.Coord]) -> dict[proofs.Coord, bytes]:
    """Stored hashes of the given nodes; level 0 comes from the entries' leaf hashes."""
    want = set(coords)
    leaves = sorted(i for lvl, i in want if lvl == 0)
    inner = sorted(c for c in want if c[0] > 0)
    out: dict[proofs.Coord, bytes] = {}
    for chunk in _chunks(leaves):
        q = select(_entry.c.idx, _entry.c.leaf_hash).where(_entry.c.idx.in_(chunk))
        out.update({(0, int(r.idx)): bytes(r.leaf_hash) for r in conn.execute(q)})
    for chunk in _chunks(inner):
        params = {f"l{i}": lvl for i, (lvl, _) in enumerate(chunk)} | {f"i{i}": ix for i, (_, ix) in enumerate(chunk)}
        rows = conn.execute(_node_query(len(chunk)), params)
        out.update({(int(r.level), int(r.idx)): bytes(r.hash) for r in rows})
    return out


@lru_cache(maxsize=64)
def _node_query(n: int) -> TextClause:
    """Nodes by primary key as an OR of (level, idx) pairs.

    A row-value ``IN`` is not answered from the primary key by SQLite (it scans the table,
    so a proof at 10^6 entries took ~75 ms); an OR of equalities uses the index on both
    SQLite and PostgreSQL, keeping a proof at O(log n) index reads.
    """
    where = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(n))
    return text(f"SELECT level, idx, hash FROM tree_node WHERE {where}")  # noqa: S608 - no user text


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def load_frontier(conn: Connection, size: int) -> merkle.Frontier:
    coords = proofs.root_coords(size)
    nodes = read_nodes(conn, coords)
    return merkle.Frontier(size, [proofs._take(nodes, c) for c in coords])


_PG_RELOAD = (
    "WITH c AS (SELECT g.l AS level, ((h.size >> (g.l + 1)) << 1) AS idx"
    " FROM log_head AS h, generate_series(0, 62) AS g(l) WHERE h.id = 1 AND ((h.size >> g.l) & 1) = 1)"
    " SELECT 1 AS lot_row, lot_id, org_id, last_seq, head_hash, NULL::integer AS level, NULL::bigint AS idx,"
    " NULL::bytea AS hash FROM lot WHERE lot_id = ANY(:ids)"
    " UNION ALL SELECT 0, NULL, NULL, NULL, NULL, 0, e.idx, e.leaf_hash FROM log_entry AS e"
    " JOIN c ON c.level = 0 AND e.idx = c.idx"
    " UNION ALL SELECT 0, NULL, NULL, NULL, NULL, t.level, t.idx, t.hash FROM tree_node AS t"
    " JOIN c ON c.level > 0 AND t.level = c.level AND t.idx = c.idx"
)
"""The lots' rows and the frontier of the log as its head row says now: the nodes' coordinates are
``proofs.root_coords`` of the head's size, worked out in SQL (one node per set bit ``l`` of the
size: level ``l``, index ``(size >> (l + 1)) << 1``), so this can be sent before the size is known."""


def reload_locked(conn: Connection, lot_ids: Sequence[str], head: TreeHead) -> tuple[list[Any], merkle.Frontier]:
    """PostgreSQL, under the log-head lock: the lots' rows (lot_id, org_id, last_seq, head_hash) and
    the frontier of the locked ``head``, in one round trip; what an appender reads after another
    process appended."""
    return _lots_and_frontier(driver_sql(conn, _PG_RELOAD, {"ids": list(lot_ids)}), head.size)


def lock_head_and_reload(conn: Connection, lot_ids: Sequence[str]) -> tuple[TreeHead, list[Any], merkle.Frontier]:
    """PostgreSQL: ``lock_head`` and then ``reload_locked``, in one round trip: the second statement
    runs once the first holds the lock, with a snapshot of its own taken after it (READ COMMITTED),
    so it reads what the previous holder committed. For an appender that
    expects another process to have appended since its last batch."""
    statements = [_lock_statement(conn), (_PG_RELOAD, {"ids": list(lot_ids)})]
    locked, rows = driver_together(conn, statements, begin=True)
    head = _locked(locked[0] if locked else None, conn)
    lots, frontier = _lots_and_frontier(rows, head.size)
    return head, lots, frontier


def _lots_and_frontier(rows: Iterable[Any], size: int) -> tuple[list[Any], merkle.Frontier]:
    lots, nodes = [], {}
    for r in rows:
        if r.lot_row:
            lots.append(r)
        else:
            nodes[(int(r.level), int(r.idx))] = bytes(r.hash)
    return lots, merkle.Frontier(size, [proofs._take(nodes, c) for c in proofs.root_coords(size)])


def root_at(conn: Connection, size: int) -> bytes:
    """The root of the log when it had ``size`` entries."""
    _check_size(conn, size)
    return proofs.root_from_nodes(size, read_nodes(conn, proofs.root_coords(size)))


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    _check_size(conn, size)
    ranges, coords = proofs.inclusion_coords(index, size)
    return proofs.hashes_from_nodes(ranges, read_nodes(conn, coords))


def consistency_proof(conn: Connection, size1: int, size2: int) -> list[bytes]:
    _check_size(conn, size2)
    ranges, coords = proofs.consistency_coords(size1, size2)
    return proofs.hashes_from_nodes(ranges, read_nodes(conn, coords))


def _check_size(conn: Connection, size: int) -> None:
    head = read_head(conn)
    if not 0 <= size <= head.size:
        raise NotFound(f"tree size out of range: expected 0..{head.size}, got {size}")


@dataclass
class NewEntry:
    """One signed entry ready to be stored at log index ``idx``."""

    idx: int
    lot_id: str
    seq: int
    prev: str | None
    event_json: str
    event: dict[str, Any]
    signer: str
    sig: str
    leaf_hash: bytes
    recorded_at: datetime
    inputs: tuple[str, ...] = ()
    row_json: str | None = None
    """Its ``log_entry`` row but the index, as PostgreSQL's batch statement reads it (``entry_json``)."""


def write_entries(
    conn: Connection, head: TreeHead, frontier: merkle.Frontier, entries: Sequence[NewEntry], *, commit: bool = False
) -> TreeHead:
    """Store entries, the subtree nodes they complete, the lots' new heads and the log head.

    ``commit``: this is the transaction's last write; commit it with the last statement
    (``driver_together``: on PostgreSQL in the same round trip). The caller's transaction block must
    end right after, with nothing else run on the connection."""
    if not entries:
        return head
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    lot_heads: dict[str, tuple[int, str]] = {}
    for i, e in enumerate(entries):
        if e.idx != head.size + i:
            raise VerificationError(f"log index out of order: expected {head.size + i}, got {e.idx}")
        nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in frontier.append(e.leaf_hash))
        lot_heads[e.lot_id] = (e.seq, e.leaf_hash.hex())
        links.extend({"input_lot": s, "output_lot": e.lot_id, "entry_idx": e.idx} for s in e.inputs)
    new = TreeHead(frontier.size, frontier.root())
    head_params = {"size": new.size, "root": new.root, "now": bind_value(conn, _head.c.updated_at, _now())}
    if conn.dialect.name == "postgresql" and not links:
        heads = [{"lot_id": k, "seq": s, "head": h} for k, (s, h) in lot_heads.items()]
        entry_rows = "[" + ",".join(f'{{"idx":{e.idx},{entry_json(e)[1:]}' for e in entries) + "]"
        params = {"rows": entry_rows, "nodes": _pg_json(nodes), "heads": json.dumps(heads, ensure_ascii=False)}
        driver_together(conn, [(_pg_write_batch(_ENTRY_COLUMNS), params | head_params)], commit=commit)
        return new
    rows = [_entry_row(e) for e in entries]
    _insert_many(conn, _entry, rows)
    _insert_many(conn, _node, nodes)
    if links:
        from ledger.store.models import LotLink

        _insert_many(conn, LotLink.__table__, links)  # type: ignore[attr-defined]
    _update_lot_heads(conn, lot_heads)
    driver_together(conn, [(_SET_HEAD, head_params)], commit=commit)
    return new


_SET_HEAD = "UPDATE log_head SET size = :size, root = :root, updated_at = :now WHERE id = 1"


@lru_cache(maxsize=4)
def _pg_write_batch(entry_columns: tuple[str, ...]) -> str:
    """A batch's writes on PostgreSQL in one statement, so in one round trip under the log-head lock:
    entries, tree nodes and lot heads as data-modifying CTEs (independent tables: none needs to see
    another's rows), then the log head. Same rows, same constraints as the separate statements."""
    return (
        f"WITH entries AS ({_pg_json_insert(_entry, entry_columns)}),"
        f" nodes AS ({_pg_json_insert(_node, ('level', 'idx', 'hash'), 'nodes')}),"
        f" heads AS ({_PG_LOT_HEADS}) " + _SET_HEAD
    )


def _insert_many(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``: on PostgreSQL in one ``INSERT … SELECT … FROM json_populate_recordset(…)``
    (one statement and one round trip for any number of rows, where executemany sends a statement
    per row, and one text parameter, where arrays would be escaped element by element); SQLite runs
    in process, where executemany costs no round trips."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    driver_sql(conn, _pg_json_insert(table, tuple(rows[0])), {"rows": _pg_json(rows)})


@lru_cache(maxsize=32)
def _pg_json_insert(table: Any, names: tuple[str, ...], param: str = "rows") -> str:
    cols = ", ".join(names)
    return (
        f"INSERT INTO {table.name} ({cols}) SELECT {cols}"  # noqa: S608 - table and column names, no user text
        f" FROM json_populate_recordset(NULL::{table.name}, CAST(:{param} AS json))"
    )


def _pg_json(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a JSON array PostgreSQL reads back exactly: bytes as bytea hex, datetimes in UTC ISO 8601."""
    return "[" + ",".join(_pg_json_object(r) for r in rows) + "]"


def _pg_json_object(row: dict[str, Any]) -> str:
    return json.dumps({k: _pg_value(v) for k, v in row.items()}, ensure_ascii=False, separators=(",", ":"))


def _pg_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return "\\x" + v.hex()
    if isinstance(v, datetime):
        if v.utcoffset() is None:
            raise ValueError(f"datetime without a time zone: {v!r}")
        return v.astimezone(UTC).isoformat()
    return v


def entry_json(e: NewEntry) -> str:
    """``e``'s row but its index as a JSON object (``_pg_json``'s form), made once and kept on ``e``:
    an appender makes it before it takes the log-head lock (``append.prebuild``), so that under the
    lock only the index is written in."""
    if e.row_json is None:
        row = _entry_row(e)
        del row["idx"]
        e.row_json = _pg_json_object(row)
    return e.row_json


_PG_LOT_HEADS = (
    "UPDATE lot SET last_seq = v.seq, head_hash = v.head"
    " FROM json_to_recordset(CAST(:heads AS json)) AS v(lot_id VARCHAR, seq INTEGER, head VARCHAR)"
    " WHERE lot.lot_id = v.lot_id"
)


def _update_lot_heads(conn: Connection, heads: dict[str, tuple[int, str]]) -> None:
    """The lots' new (last seq, head hash): one statement on PostgreSQL, executemany on SQLite."""
    if not heads:
        return
    if conn.dialect.name == "postgresql":
        rows = [{"lot_id": k, "seq": s, "head": h} for k, (s, h) in heads.items()]
        driver_sql(conn, _PG_LOT_HEADS, {"heads": json.dumps(rows, ensure_ascii=False)})
        return
    conn.execute(
        update(_lot)
        .where(_lot.c.lot_id == bindparam("b_lot"))
        .values(last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash")),
        [{"b_lot": k, "b_seq": s, "b_hash": h} for k, (s, h) in heads.items()],
    )


_ENTRY_COLUMNS = (
    "idx",
    "lot_id",
    "seq",
    "prev",
    "event",
    "event_type",
    "biz_step",
    "event_time",
    "signer",
    "sig",
    "leaf_hash",
    "recorded_at",
)


def _entry_row(e: NewEntry) -> dict[str, Any]:
    values = (e.idx, e.lot_id, e.seq, e.prev, e.event_json, e.event["type"], e.event["bizStep"], e.event["eventTime"])
    return dict(zip(_ENTRY_COLUMNS, (*values, e.signer, e.sig, e.leaf_hash, e.recorded_at), strict=True))


def lot_entries(conn: Connection, lot_id: str) -> list[Any]:
    """A lot's stored entries in log order."""
    return list(conn.execute(select(_entry).where(_entry.c.lot_id == lot_id).order_by(_entry.c.idx)))


def entries_range(conn: Connection, start: int, end: int) -> list[Any]:
    q = select(_entry).where(_entry.c.idx >= start, _entry.c.idx < end).order_by(_entry.c.idx)
    return list(conn.execute(q))


class StoredEntry(NamedTuple):
    """A stored entry's columns as plain values (``entry_tuples``), by the names of ``log_entry``'s columns."""

    idx: int
    lot_id: str
    seq: int
    prev: str | None
    event: str
    event_type: str
    biz_step: str
    event_time: str
    signer: str
    sig: str
    leaf_hash: bytes
    pop: str | None


_STORED_COLUMNS = ", ".join(StoredEntry._fields)


def entry_tuples(conn: Connection, start: int, end: int) -> list[StoredEntry]:
    """The entries at log indexes [start, end) in index order, every column but ``recorded_at``: one raw
    statement, no SQLAlchemy result processing (for the full-log audit, which reads every row)."""
    ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT {_STORED_COLUMNS} FROM log_entry WHERE idx >= {ph} AND idx < {ph} ORDER BY idx"
    make = StoredEntry._make
    return [make(r) for r in conn.exec_driver_sql(sql, (start, end)).all()]


def entry_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(_entry)).scalar_one())


def _now() -> datetime:
    return datetime.now(UTC)
