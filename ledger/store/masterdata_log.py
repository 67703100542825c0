"""Organizations, keys and products written into the log as format v2 entries (``ledger.store.v2log``).

The tables stay the operator's working copies; every change the service makes to a fact a page,
certificate or bundle shows is also appended to the log, in the same transaction:

* ``org:<slug>``: the whole organization record, signed by the log key, a new version on change;
* ``key:<key id>``: register (with the key's proof of possession), retire on rotation, revoke with
  its effective time, signed by the log key;
* ``product:<gtin>``: the product record, signed by the owning organization's server-held active
  key; an organization that holds its own keys gets its product signed by the log key with
  ``"migrated": true`` (vouched by the operator, not the producer).

``backfill`` writes what an older ledger's tables hold and the log does not (once: it compares).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from ledger.core import canonical, factcheck, masterdata, signing, statements
from ledger.core.records import ProductCreate
from ledger.errors import InputError, LedgerError, NotFound, PermissionDenied
from ledger.store import v2log
from ledger.store.keys import KeyRing
from ledger.store.models import LogEntry, Organization, Product, SigningKey

_org = Organization.__table__  # type: ignore[attr-defined]
_key = SigningKey.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_entry = LogEntry.__table__  # type: ignore[attr-defined]


def org_body(row: Any) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "kind": row.kind,
        "province": row.province,
        "tax_code": None,
        "gln": None,
        "gs1_prefixes": sorted(row.gs1_prefixes or []),
    }


def write_org(conn: Connection, org_id: int, log: signing.Signer, now: datetime) -> None:
    """Append the organization's record unless the log's current version says the same."""
    row = conn.execute(select(_org).where(_org.c.id == org_id)).one()
    body = org_body(row)
    entries = v2log.subject_entries(conn, f"org:{row.slug}")
    if not entries or masterdata.current(entries) != body:
        v2log.append(conn, kind="org", ident=row.slug, body=body, signer=log, now=now)


def _org_slug(conn: Connection, org_id: int) -> str:
    return str(conn.execute(select(_org.c.slug).where(_org.c.id == org_id)).scalar_one())


def register_key(
    conn: Connection,
    ring: KeyRing,
    kid: str,
    now: datetime,
    *,
    effective: datetime | None = None,
    pop: str | None = None,
    migrated: bool = False,
) -> dict[str, Any]:
    """The key's ``register`` entry: a server-held key proves possession itself, another brings ``pop``."""
    row = conn.execute(select(_key).where(_key.c.key_id == kid)).one()
    log = ring.log_signer(conn)
    body: dict[str, Any] = {
        "action": "register",
        "org": _org_slug(conn, row.org_id),
        "public_key": base64.b64encode(bytes(row.public_key)).decode(),
        "effective": v2log.utc_text(effective or row.created_at),
    }
    if migrated:
        body["migrated"] = True
    held = ring.signer_of(row) if row.sealed_private_key is not None else None
    if held is None and pop is None and not migrated:
        raise InputError("a key the organization holds needs its proof of possession ('pop')", field="pop")
    pop_kw: dict[str, Any] = {"pop_signer": held} if held is not None else {"pop": pop}
    return v2log.append(conn, kind="key", ident=kid, body=body, signer=log, now=now, **pop_kw)


def key_action(
    conn: Connection, ring: KeyRing, kid: str, action: str, effective: datetime, now: datetime, reason: str | None
) -> dict[str, Any]:
    """A ``retire`` or ``revoke`` entry of a key."""
    row = conn.execute(select(_key.c.org_id).where(_key.c.key_id == kid)).one()
    body = {"action": action, "org": _org_slug(conn, row.org_id), "effective": v2log.utc_text(effective)}
    if reason is not None:
        body["reason"] = reason
    return v2log.append(conn, kind="key", ident=kid, body=body, signer=ring.log_signer(conn), now=now)


def product_body(conn: Connection, row: Any) -> dict[str, Any]:
    certs = [{k: v for k, v in c.items() if v is not None} for c in (row.certifications or [])]
    names = {"vi": row.name_vi, "en": row.name_en, "zh": row.name_zh, "ja": row.name_ja}
    return {
        "gtin": row.gtin,
        "org": _org_slug(conn, row.org_id),
        "names": {k: v for k, v in names.items() if v is not None},
        "category": row.category,
        "brand": row.brand,
        "net_content": dict(row.net_content) if row.net_content else None,
        "images": [{"sha256": i["sha256"], "media_type": i["media_type"]} for i in row.images or []],
        "declared": {"ocop_stars": row.ocop_stars, "ocop_year": row.ocop_year, "certifications": certs},
    }


def write_product(conn: Connection, ring: KeyRing, gtin: str, now: datetime) -> None:
    """Append the product's record unless the log's current version says the same."""
    row = conn.execute(select(_product).where(_product.c.gtin == gtin)).one()
    body = product_body(conn, row)
    entries = v2log.subject_entries(conn, f"product:{gtin}")
    if entries and _without_mark(masterdata.current(entries)) == body:
        return
    signer = ring.active_signer(conn, row.org_id)
    if signer is None:
        signer, body = ring.log_signer(conn), {**body, "migrated": True}
    v2log.append(conn, kind="product", ident=gtin, body=body, signer=signer, now=now)


def _without_mark(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "migrated"}


def backfill(conn: Connection, ring: KeyRing, now: datetime) -> int:
    """Write the organizations, keys (and their retirements and revocations) and products the log lacks."""
    before = v2log.entry_total(conn)
    log = ring.log_signer(conn)
    for org_id in conn.execute(select(_org.c.id).order_by(_org.c.id)).scalars():
        write_org(conn, int(org_id), log, now)
    for row in conn.execute(select(_key).order_by(_key.c.id)).all():
        if v2log.subject_rows(conn, f"key:{row.key_id}"):
            continue
        register_key(conn, ring, row.key_id, now, migrated=row.sealed_private_key is None)
        if row.retired_at is not None:
            key_action(conn, ring, row.key_id, "retire", row.retired_at, now, None)
        if row.revoked_at is not None:
            key_action(conn, ring, row.key_id, "revoke", row.revoked_at, now, row.revocation_reason)
    for gtin in conn.execute(select(_product.c.gtin).order_by(_product.c.id)).scalars():
        if not v2log.subject_rows(conn, f"product:{gtin}"):
            write_product(conn, ring, str(gtin), now)
    return v2log.entry_total(conn) - before


def product_chain(
    conn: Connection, product_id: int | None, size: int, also_about: list[dict[str, str]] | None = None
) -> factcheck.ProductChain | None:
    """The product's row and its signed chain in the first ``size`` log entries (None without a product), with
    the attestation chains about the product and about ``also_about`` (the lot and its plot)."""
    if product_id is None:
        return None
    row = conn.execute(select(_product).where(_product.c.id == product_id)).first()
    if row is None:
        return None
    rows = [r for r in v2log.subject_rows(conn, f"product:{row.gtin}") if int(r.idx) < size]
    entries = [(int(r.idx), v2log.entry_of(r), bytes(r.leaf_hash)) for r in rows]
    vouching = _attestation_rows(conn, [{"type": "product", "id": row.gtin}, *(also_about or [])], size)
    signers = {str(r.signer) for r in [*rows, *(r for chain in vouching for r in chain)]}
    regs = [e for s in sorted(signers) for e in v2log.subject_entries(conn, f"key:{s}")[:1]]
    keys = factcheck.key_table(regs, v2log.log_public_key(conn))
    org = conn.execute(select(_org).where(_org.c.id == row.org_id)).first()
    org_rows = [r for r in v2log.subject_rows(conn, f"org:{org.slug}") if int(r.idx) < size] if org else []
    org_entries = [(int(r.idx), v2log.entry_of(r), bytes(r.leaf_hash)) for r in org_rows]
    attestations = [[(int(r.idx), v2log.entry_of(r), bytes(r.leaf_hash)) for r in chain] for chain in vouching]
    org_row = dict(org._mapping) if org else None
    return factcheck.ProductChain(dict(row._mapping), entries, keys, org_row, org_entries, attestations)


def _attestation_rows(conn: Connection, about: list[dict[str, str]], size: int) -> list[list[Any]]:
    """The stored rows of every attestation chain about one of ``about`` in the first ``size`` log entries."""
    firsts = conn.execute(
        select(_entry.c.lot_id, _entry.c.event).where(
            _entry.c.event_type == "attestation", _entry.c.seq == 0, _entry.c.idx < size
        )
    ).all()
    out = []
    for first in firsts:
        try:
            if canonical.from_canonical(str(first.event).encode()).get("about") not in about:
                continue
        except (LedgerError, ValueError):
            pass  # an unreadable first entry is checked (and fails) with its chain
        out.append([r for r in v2log.subject_rows(conn, str(first.lot_id)) if int(r.idx) < size])
    return out


def key_facts(conn: Connection, kid: str) -> dict[str, Any] | None:
    """Owner, owner's kind, public key and revocation of a key as its signed log entries say (empty if none).

    Verification takes these over the ``signing_key`` and ``organization`` rows: an edited row
    then changes nothing (or fails the signature), it cannot move a key or undo a revocation.
    None when the key's entries do not verify under the log key: the key is then not registered.
    """
    entries = v2log.subject_entries(conn, f"key:{kid}")
    if not entries:
        return {}
    log = v2log.log_public_key(conn)
    try:
        for ent in entries:
            statements.verify_entry(ent, log[1] if log else b"")
        state = masterdata.key_state(entries)
    except (LedgerError, ValueError):
        return None
    org = conn.execute(select(_org.c.id).where(_org.c.slug == state["org"])).first()
    return {
        "public_key": base64.b64decode(state["public_key"]),
        "org_id": org.id if org is not None else f"org:{state['org']}",
        "org_kind": _org_kind(conn, str(state["org"]), log[1] if log else b""),
        "revoked_at": state["revoked"],
    }


def _org_kind(conn: Connection, slug: str, log_key: bytes) -> str | None:
    """The kind the organization's signed org entries give it; None if they are missing or do not verify."""
    entries = v2log.subject_entries(conn, f"org:{slug}")
    try:
        for ent in entries:
            statements.verify_entry(ent, log_key)
        return masterdata.org_kind(entries) if entries else None
    except (LedgerError, ValueError):
        return None


def update_product_row(
    conn: Connection, org_id: int, gtin: str, data: ProductCreate, images: list[dict[str, str]]
) -> None:
    """The working copy of a product update: only its owner, never to another GTIN (``images`` resolved
    to ``{"sha256", "media_type"}`` from the photo store)."""
    if data.gtin != gtin:
        raise InputError(f"gtin: expected the product's GTIN {gtin}, got {data.gtin}", field="gtin")
    row = conn.execute(select(_product.c.org_id).where(_product.c.gtin == gtin)).first()
    if row is None:
        raise NotFound(f"no product with GTIN {gtin}")
    if int(row.org_id) != org_id:
        raise PermissionDenied(f"product {gtin} belongs to another organization")
    values = data.model_dump(mode="json", exclude={"gtin"}) | {"images": images}
    conn.execute(update(_product).where(_product.c.gtin == gtin).values(**values))
