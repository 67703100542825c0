"""Assembling a version-3 bundle from the store (``ledger.core.bundle_v3``; ``docs/bundle.md`` "Version 3").

Served when the anchor's last entry (index ``size - 1``) is a ``heads`` entry; ``v3_bundle`` returns
None otherwise and the caller serves version 1 or 2 as before. The bundle holds, up to the heads
entry's size ``h``:

* the subject lot(s) and every upstream lot (through ``lot_link``), each chain complete up to its head;
* the ``key`` chain of every signer, the ``org`` chain of every key's organization, and the
  ``product`` chain of each lot's GTIN (when the log has one), whose signers' keys and organizations
  are added in turn;
* the ``attestation`` chains about each lot, its product or its plot (the growing-area code its
  commissioning event declares, ``ledger.core.codes``), with their signers;
* the map proof of every chain (and of the shipment), from the map recomputed at ``h``, which must
  have the root the heads entry signed (else the store changed since: ``ConflictError``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger.core import canonical, codes, heads, statements
from ledger.core.bundle_v3 import build_v3
from ledger.core.verify import statement_of
from ledger.errors import ConflictError
from ledger.store import heads_map, lineage, v2log
from ledger.store import log as store
from ledger.store.models import LogEntry

_entry = LogEntry.__table__  # type: ignore[attr-defined]
Chain = list[tuple[int, dict[str, Any]]]


def heads_at(conn: Connection, size: int) -> tuple[int, dict[str, Any]] | None:
    """(index, entry) of the heads entry at ``size - 1``, or None when that entry is not one."""
    row = conn.execute(select(_entry).where(_entry.c.idx == size - 1)).first()
    if row is None or row.lot_id != statements.HEADS_SUBJECT:
        return None
    return int(row.idx), v2log.entry_of(row)


def v3_bundle(conn: Connection, subjects: list[str], sscc: str | None, anchor: dict[str, Any]) -> dict[str, Any] | None:
    """The version-3 bundle of ``subjects`` (a lot, or a shipment's lots) at ``anchor``; None without heads."""
    size = int(anchor["tree_size"])
    found = heads_at(conn, size)
    log_key = v2log.log_public_key(conn)
    if found is None or log_key is None:
        return None
    h = found[0]
    chains = _lot_chains(conn, subjects, h)
    chains |= _v2_chains(conn, chains, h)
    keys = sorted(chains) + ([heads.sscc_key(sscc)] if sscc else [])
    map_proofs = heads_map.committed_proofs(conn, h, found[1]["body"]["map_root"], keys)  # or ConflictError
    indexes = [i for ents in chains.values() for i, _ in ents] + [h]
    proofs = {i: store.inclusion_proof(conn, i, size) for i in indexes}
    kind, subject = ("lot", subjects[0]) if sscc is None else ("shipment", sscc)
    ordered = sorted(chains.items(), key=lambda kv: _order(kv[0], subjects))
    return build_v3(
        kind, subject, ordered, proofs, found, map_proofs, log_key,
        (size, store.root_at(conn, size)), anchor, lots=subjects if sscc else (),
    )  # fmt: skip


def _order(subject: str, subjects: list[str]) -> tuple[int, str]:
    """Subject lots first (in the given order), then other lots, then the v2 chains."""
    lot = subject.removeprefix("lot:")
    if subject.startswith("lot:") and lot in subjects:
        return (0, f"{subjects.index(lot):09d}")
    return (1 if subject.startswith("lot:") else 2, subject)


def _lot_chains(conn: Connection, subjects: list[str], h: int) -> dict[str, Chain]:
    chains: dict[str, Chain] = {}
    todo = list(subjects)
    while todo:
        lot_id = todo.pop(0)
        if heads.lot_key(lot_id) in chains:
            continue
        rows = [r for r in store.lot_entries(conn, lot_id) if int(r.idx) < h]
        if len(rows) != len(store.lot_entries(conn, lot_id)):
            raise ConflictError(f"lot {lot_id} has entries after the anchored heads entry: retry after the next anchor")
        chains[heads.lot_key(lot_id)] = [(int(r.idx), _lot_entry(r)) for r in rows]
        todo += [e.input_lot for _, e in lineage.edges(conn, lot_id, "up", max_depth=1) if e.entry_idx < h]
    return chains


def _lot_entry(row: Any) -> dict[str, Any]:
    event = canonical.from_canonical(str(row.event).encode())
    return canonical.entry(statement_of(row._mapping, event), str(row.sig))


def _v2_chains(conn: Connection, lots: dict[str, Chain], h: int) -> dict[str, Chain]:
    """Product chains of the lots and attestations about them, their products or their plots, then key chains
    of every signer and org chains of their organizations."""
    out: dict[str, Chain] = {}
    gtins = {s.removeprefix("lot:").split(".")[0] for s in lots}
    for subject in {f"product:{g}" for g in gtins}:
        _add(conn, out, subject, h)
    about = {("product", g) for g in gtins} | {("lot", s.removeprefix("lot:")) for s in lots}
    about |= {("plot", plot) for plot in (_plot(ents) for ents in lots.values()) if plot is not None}
    out |= _attestations(conn, about, h)
    signers = {str(e["signer"]) for ents in (*lots.values(), *out.values()) for _, e in ents}
    for kid in sorted(signers):
        if _add(conn, out, f"key:{kid}", h):
            _add(conn, out, f"org:{out[f'key:{kid}'][0][1]['body']['org']}", h)
    return out


def _plot(entries: Chain) -> str | None:
    """The plot id (declared growing-area code) of a lot chain's commissioning entry, if any."""
    event = entries[0][1].get("event") if entries else None
    if not isinstance(event, dict) or event.get("bizStep") != "commissioning":
        return None
    return codes.plot_id(event.get("ilmd"))


def _attestations(conn: Connection, about: set[tuple[str, str]], h: int) -> dict[str, Chain]:
    """Every attestation chain (active or revoked as of ``h``) about one of ``about`` ((type, id) pairs)."""
    q = select(_entry.c.lot_id).where(_entry.c.event_type == "attestation", _entry.c.seq == 0, _entry.c.idx < h)
    out: dict[str, Chain] = {}
    for subject in conn.execute(q.order_by(_entry.c.idx)).scalars():
        chain = [(i, e) for i, e in v2log.indexed_entries(conn, str(subject)) if i < h]
        target = chain[-1][1]["body"].get("about") or {}
        if (target.get("type"), target.get("id")) in about:
            out[str(subject)] = chain
    return out


def _add(conn: Connection, out: dict[str, Chain], subject: str, h: int) -> bool:
    if subject in out:
        return True
    chain = [(i, e) for i, e in v2log.indexed_entries(conn, subject) if i < h]
    if chain:
        out[subject] = chain
    return bool(chain)
