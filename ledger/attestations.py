"""Attestations: an authority organization vouches for a fact about a product, lot or plot (issue 11).

An attestation is the format v2 chain ``attestation:<authority slug>:<n>``: its first entry
(``status: active``) states the claim (OCOP rating, certification, growing-area or packing-house
code) about its subject; a later entry with ``status: revoked`` withdraws it. Each entry is signed
by the authority's active server-held key; readers accept an attestation only if the signer is
registered (by the log's ``key`` entries) to an organization whose current ``org`` entry says
``authority`` (``ledger.core.masterdata``), whatever the tables say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from ledger.core import codes, masterdata, statements
from ledger.errors import ConflictError, InputError, LedgerError, NotFound, PermissionDenied, VerificationError
from ledger.store import masterdata_log, v2log
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry, Organization

_org = Organization.__table__  # type: ignore[attr-defined]
_entry = LogEntry.__table__  # type: ignore[attr-defined]


def attest(ledger: Any, authority: str, about: Mapping[str, Any], claim: Mapping[str, Any]) -> dict[str, Any]:
    """Append a new attestation by ``authority`` (slug): returns its subject and entry."""
    body = masterdata.validate_body("attestation", {"about": dict(about), "claim": dict(claim), "status": "active"})
    with write_tx(ledger.engine) as conn:
        org_id, slug = _authority(conn, authority)
        signer = _signer(ledger, conn, org_id, slug)
        n = _next_number(conn, slug)
        out = v2log.append(conn, kind="attestation", ident=f"{slug}:{n}", body=body, signer=signer, now=ledger.clock())
    return {"subject": out["subject"], "index": out["index"], "body": body}


def revoke(ledger: Any, subject: str, by: str | None = None) -> dict[str, Any]:
    """Withdraw an attestation: its next entry says ``status: revoked`` (by the same authority).

    ``by`` is the authority asking (its slug); None when the operator asks. An authority withdraws only
    its own attestations: another's is ``PermissionDenied``.
    """
    if not subject.startswith("attestation:") or subject.count(":") != 2:
        raise InputError(f"expected an attestation subject like attestation:<slug>:<n>, got {subject!r}")
    slug = subject.split(":")[1]
    with write_tx(ledger.engine) as conn:
        entries = v2log.subject_entries(conn, subject)
        if not entries:
            raise NotFound(f"no attestation {subject}")
        if by is not None and by != slug:
            raise PermissionDenied(
                f"attestation {subject} was issued by {slug}: only {slug} or the operator revokes it"
            )
        current = masterdata.current(entries)
        if current["status"] == "revoked":
            raise ConflictError(f"attestation {subject} is already revoked")
        org_id, _ = _authority(conn, slug)
        body = {**current, "status": "revoked"}
        signer = _signer(ledger, conn, org_id, slug)
        out = v2log.append(conn, kind="attestation", ident=subject.removeprefix("attestation:"), body=body,
                           signer=signer, now=ledger.clock())  # fmt: skip
    return {"subject": subject, "index": out["index"], "body": body}


def about(ledger: Any, kind: str, ident: str) -> list[dict[str, Any]]:
    """The active attestations about ``kind``/``ident`` that verify, with the authority that vouches."""
    with read_tx(ledger.engine) as conn:
        return about_in(conn, kind, ident)


def about_in(conn: Connection, kind: str, ident: str) -> list[dict[str, Any]]:
    subjects = conn.execute(
        select(_entry.c.lot_id).where(_entry.c.event_type == "attestation", _entry.c.seq == 0).order_by(_entry.c.idx)
    ).scalars()
    out = []
    for subject in subjects:
        entries = v2log.subject_entries(conn, str(subject))
        try:
            body = masterdata.current(entries)
            if body["about"] != {"type": kind, "id": ident} or body["status"] != "active":
                continue
            slug = _check_signers(conn, entries)
        except (LedgerError, ValueError):
            continue  # an attestation that does not verify vouches for nothing
        name = conn.execute(select(_org.c.name).where(_org.c.slug == slug)).scalar_one_or_none()
        out.append({"subject": str(subject), "authority": slug, "authority_name": name or slug, "claim": body["claim"]})
    return out


def _check_signers(conn: Connection, entries: list[dict[str, Any]]) -> str:
    """Every entry is signed by a key the log registers to one authority organization; return its slug."""
    slug = str(entries[0]["subject"]).split(":")[1]
    for ent in entries:
        kid = str(ent["signer"])
        facts = masterdata_log.key_facts(conn, kid)
        if not facts:
            raise VerificationError(f"{ent['subject']}: signer {kid} is not a registered key", check="attribution")
        statements.verify_entry(ent, facts["public_key"])
        owner = masterdata.key_owner(v2log.subject_entries(conn, f"key:{kid}"), kid, _recorded(conn, ent))
        if owner != slug or facts.get("org_kind") != "authority":
            raise VerificationError(
                f"{ent['subject']}: signed by {owner}, not the authority {slug}", check="attribution"
            )
    return slug


def _recorded(conn: Connection, ent: Mapping[str, Any]) -> str:
    t = conn.execute(
        select(_entry.c.event_time).where(_entry.c.lot_id == ent["subject"], _entry.c.seq == ent["seq"])
    ).scalar_one()
    return str(t)


def _authority(conn: Connection, slug: str) -> tuple[int, str]:
    row = conn.execute(select(_org.c.id, _org.c.kind, _org.c.slug).where(_org.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"no organization {slug!r}")
    kinds = masterdata.org_kind(v2log.subject_entries(conn, f"org:{slug}")) if row else None
    if row.kind != "authority" or kinds != "authority":
        raise PermissionDenied(f"only an authority organization attests: {slug} is a {row.kind}")
    return int(row.id), str(row.slug)


def _signer(ledger: Any, conn: Connection, org_id: int, slug: str) -> Any:
    signer = ledger.keyring.active_signer(conn, org_id)
    if signer is None:
        raise InputError(f"authority {slug} has no server-held active key to sign with")
    return signer


def _next_number(conn: Connection, slug: str) -> int:
    prefix = f"attestation:{slug}:"
    subjects = conn.execute(
        select(_entry.c.lot_id).where(_entry.c.lot_id.like(f"{prefix}%"), _entry.c.seq == 0)
    ).scalars()
    return 1 + max((int(s.removeprefix(prefix)) for s in subjects if s.removeprefix(prefix).isdigit()), default=0)


def stars_vouched(conn: Connection, lot_id: str, declared: Mapping[str, Any]) -> dict[str, Any]:
    """The OCOP rating a page or certificate shows for a lot, and who vouches for it.

    An active OCOP-rating attestation about the lot or its product wins (``by``: the authority's
    name); otherwise the producer's declaration (``by``: None), or no rating at all.
    """
    found = about_in(conn, "lot", lot_id) + about_in(conn, "product", lot_id[:14])
    rated = [a for a in found if a["claim"]["type"] == "ocop_rating"]
    if rated:
        claim = rated[-1]["claim"]
        return {"stars": claim["stars"], "year": claim["year"], "by": rated[-1]["authority_name"]}
    return {"stars": declared.get("ocop_stars"), "year": declared.get("ocop_year"), "by": None}


def codes_vouched(conn: Connection, lot_id: str, ilmd: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The lot's growing-area and packing-house codes, declared (its signed commissioning ``ilmd``) against
    the active attestations about the lot or its plot (``ledger.core.codes.code_facts``; ``by``: names)."""
    plot = codes.plot_id(ilmd)
    found = about_in(conn, "lot", lot_id) + (about_in(conn, "plot", plot) if plot else [])
    attested = [{"claim": a["claim"], "by": a["authority_name"]} for a in found]
    return codes.code_facts(codes.declared_codes(ilmd), attested)
