"""The audit of format v2 entries (organizations, keys, products, attestations): one subject chain each.

For every v2 row: ``record`` (the row makes a well-formed v2 entry), ``signature`` (by the log key
or a registered key, and a key registration's proof of possession), ``chain`` (seq and prev link
the subject's entries) and ``leaf`` (the stored leaf hash is the entry's). Then ``master_data``:
every organization, product and key row that has a log chain agrees with its newest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, select

from ledger.core import masterdata, merkle, statements
from ledger.errors import LedgerError
from ledger.store import v2log
from ledger.store.models import Organization, Product, SigningKey

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]


def _same_time(stored: Any, signed: str | None) -> bool:
    if stored is None or signed is None:
        return stored is None and signed is None
    from ledger.core.chaincheck import parse_time

    return parse_time(stored) == parse_time(signed)


Find = Callable[[str, str, "int | None", "str | None"], None]


class V2Checker:
    def __init__(self, conn: Connection, keys: Mapping[str, Mapping[str, Any]]) -> None:
        self.pubs = {kid: bytes(k["public_key"]) for kid, k in keys.items()}
        log = v2log.log_public_key(conn)
        if log is not None:
            self.pubs[log[0]] = log[1]
        self.heads: dict[str, tuple[int, str]] = {}
        # on a pool worker (``ledger.audit.pool``) a subject's first entry in the chunk is linked in the merge
        self.defer_first = False
        self.firsts: dict[str, tuple[int, int, str | None]] = {}

    def tables(self, conn: Connection, find: Find) -> None:
        """``master_data`` findings: rows of organization, product and signing_key that contradict the log."""
        from ledger.core import factcheck
        from ledger.store import masterdata_log

        orgs = {r.id: r for r in conn.execute(select(_org))}
        for org in orgs.values():
            body = self._current(conn, f"org:{org.slug}")
            if body is not None and masterdata_log.org_body(org) != {**body, "tax_code": None, "gln": None}:
                find("master_data", f"organization {org.slug} differs from its signed org entry", None, None)
        for p in conn.execute(select(_product)):
            body = self._current(conn, f"product:{p.gtin}")
            if body is None:
                continue
            for fact, (column, path) in factcheck.PRODUCT_FACTS.items():
                if factcheck.norm(p._mapping[column]) != factcheck.norm(factcheck.fact_value(body, path)):
                    find("master_data", f"product {p.gtin}: {fact} differs from its signed product entry", None, None)
        for k in conn.execute(select(_key)):
            facts = masterdata_log.key_facts(conn, k.key_id)
            if facts is None:
                find("master_data", f"key {k.key_id}: its log registration does not verify", None, None)
            elif facts and (
                bytes(k.public_key) != facts["public_key"]
                or k.org_id != facts["org_id"]
                or not _same_time(k.revoked_at, facts["revoked_at"])
            ):
                find("master_data", f"key {k.key_id} differs from its signed key entries", None, None)

    @staticmethod
    def _current(conn: Connection, subject: str) -> dict[str, Any] | None:
        entries = v2log.subject_entries(conn, subject)
        try:
            return masterdata.current(entries) if entries else None
        except (LedgerError, ValueError):
            return None  # reported by the entry checks

    def link(self, subject: str, idx: int, seq: int, prev: str | None, find: Find) -> None:
        """``chain``: the entry's seq and prev follow the subject's previous entry."""
        last_seq, head = self.heads.get(subject, (-1, None))
        if seq != last_seq + 1 or prev != head:
            msg = f"{subject}: expected seq {last_seq + 1} after {head}, got seq {seq} after {prev}"
            find("chain", msg, idx, subject)

    def entry(self, row: Any, find: Find) -> tuple[bytes, bool]:
        """Check one stored v2 entry; return its recomputed leaf hash and whether it is sound."""
        idx, subject = int(row.idx), str(row.lot_id)
        try:
            ent = v2log.entry_of(row)
            leaf = merkle.leaf_hash(statements.entry_bytes(ent))
        except (LedgerError, ValueError, TypeError) as exc:
            find("record", f"stored v2 entry is malformed: {exc}", idx, subject)
            return bytes(row.leaf_hash), False
        pub = self.pubs.get(str(row.signer))
        try:
            if pub is None:
                raise LedgerError(f"signer is neither the log key nor a registered key: got {row.signer}")
            statements.verify_entry(ent, pub)
        except (LedgerError, ValueError) as exc:
            find("signature", str(exc), idx, subject)
        if self.defer_first and subject not in self.heads:
            self.firsts[subject] = (idx, int(row.seq), row.prev)
        else:
            self.link(subject, idx, int(row.seq), row.prev, find)
        self.heads[subject] = (int(row.seq), leaf.hex())
        if bytes(row.leaf_hash) != leaf:
            find(
                "leaf",
                f"stored leaf hash differs: expected {leaf.hex()}, got {bytes(row.leaf_hash).hex()}",
                idx,
                subject,
            )
            return leaf, False
        return leaf, True
