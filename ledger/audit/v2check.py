"""The audit of format v2 entries (organizations, keys, products, attestations): one subject chain each.

For every v2 row: ``record`` (the row makes a well-formed v2 entry), ``signature`` (by the log key
or a registered key, and a key registration's proof of possession), ``chain`` (seq and prev link
the subject's entries) and ``leaf`` (the stored leaf hash is the entry's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from ledger.core import merkle, statements
from ledger.errors import LedgerError
from ledger.store import v2log

Find = Callable[[str, str, "int | None", "str | None"], None]


class V2Checker:
    def __init__(self, conn: Connection, keys: Mapping[str, Mapping[str, Any]]) -> None:
        self.pubs = {kid: bytes(k["public_key"]) for kid, k in keys.items()}
        log = v2log.log_public_key(conn)
        if log is not None:
            self.pubs[log[0]] = log[1]
        self.heads: dict[str, tuple[int, str]] = {}

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
        seq, head = self.heads.get(subject, (-1, None))
        if int(row.seq) != seq + 1 or row.prev != head:
            find(
                "chain",
                f"{subject}: expected seq {seq + 1} after {head}, got seq {row.seq} after {row.prev}",
                idx,
                subject,
            )
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
