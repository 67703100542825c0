"""Bodies of format v2 entries and what a subject's entries say now (pure; no database).

CONSENSUS-CRITICAL, like ``ledger.core.statements``: the server, ``/verify`` and the bundle
verifier read organizations, keys, products and attestations through these functions only.

* ``validate_body(kind, body)`` checks that a body has exactly its kind's fields (strict: no
  coercion, no unknown field) and returns it unchanged.
* ``current(entries)`` folds one subject's entries (in seq order) into its current record.
* ``in_force(indexed, before)`` is the version of a subject in force before a log index (the
  product a page shows is the one in force at the lot's commissioning).
* ``key_owner(key_entries, kid, at_time)`` is the organization a key signed for at a time, or
  raises ``VerificationError(check="attribution")``; ``org_kind(org_entries)`` the kind of an org.

Migrated keys (registered by their organization before format v2, without a proof of
possession) carry ``"migrated": true`` in their ``register`` body and no ``pop``. Products written
by the operator (migrated from an older ledger, or of an organization without a server-held
key) are signed by the log key and carry ``"migrated": true`` in their body: the operator, not
the producer, vouches for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ledger.core import signing, statements
from ledger.core.chaincheck import parse_time
from ledger.errors import InputError, VerificationError

ORG_KINDS = ("cooperative", "company", "inspector", "exporter", "authority", "operator")
KEY_ACTIONS = ("register", "retire", "revoke")
CLAIM_TYPES = ("ocop_rating", "certification", "growing_area_code", "packing_house_code")
_SLUG = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_DATE = r"^\d{4}-\d{2}-\d{2}$"
Text = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(pattern=_SLUG)]
Date = Annotated[str, Field(pattern=_DATE)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OrgBody(_Body):
    slug: Slug
    name: Text
    kind: Literal["cooperative", "company", "inspector", "exporter", "authority", "operator"]
    province: Text | None = None
    tax_code: Annotated[str, Field(pattern=r"^[0-9]{10}(-[0-9]{3})?$")] | None = None
    gln: Annotated[str, Field(pattern=r"^[0-9]{13}$")] | None = None
    gs1_prefixes: list[Annotated[str, Field(pattern=r"^[0-9]{4,12}$")]] = Field(default_factory=list, max_length=20)


def _rfc3339_utc(value: str) -> str:
    if not _RFC3339_UTC.match(value):
        raise ValueError(f"expected an RFC 3339 UTC time like 2026-07-01T00:00:00Z, got {value!r}")
    return value


class KeyBody(_Body):
    action: Literal["register", "retire", "revoke"]
    org: Slug
    public_key: str | None = None
    effective: str
    reason: Annotated[str, Field(max_length=500)] | None = None
    migrated: bool | None = None

    _effective = field_validator("effective")(_rfc3339_utc)


class Names(_Body):
    vi: Text
    en: Text | None = None
    zh: Text | None = None
    ja: Text | None = None


class NetContent(_Body):
    value: Annotated[int | float, Field(gt=0, le=10**9)]
    unit: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")]


class Image(_Body):
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    media_type: Annotated[str, Field(pattern=r"^image/[a-z0-9.+-]{1,40}$")]


class DeclaredCertification(_Body):
    scheme: Annotated[str, Field(min_length=1, max_length=100)]
    certificate_no: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    issuer: Text | None = None
    valid_from: Date | None = None
    valid_to: Date | None = None


class Declared(_Body):
    ocop_stars: Annotated[int, Field(ge=3, le=5)] | None = None
    ocop_year: Annotated[int, Field(ge=2018, le=2100)] | None = None
    certifications: list[DeclaredCertification] = Field(default_factory=list, max_length=20)


class ProductBody(_Body):
    gtin: Annotated[str, Field(pattern=r"^[0-9]{14}$")]
    org: Slug
    names: Names
    category: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    brand: Text | None = None
    net_content: NetContent | None = None
    images: list[Image] = Field(default_factory=list, max_length=20)
    declared: Declared = Field(default_factory=Declared)
    migrated: bool | None = None


class About(_Body):
    type: Literal["product", "lot", "plot"]
    id: Annotated[str, Field(min_length=1, max_length=100)]


class OcopRating(_Body):
    type: Literal["ocop_rating"]
    stars: Annotated[int, Field(ge=1, le=5)]
    year: Annotated[int, Field(ge=2018, le=2100)]
    decision: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    expires: Date | None = None


class CertificationClaim(_Body):
    type: Literal["certification"]
    scheme: Annotated[str, Field(min_length=1, max_length=100)]
    number: Annotated[str, Field(min_length=1, max_length=100)]
    valid_from: Date | None = None
    valid_to: Date | None = None


class CodeClaim(_Body):
    type: Literal["growing_area_code", "packing_house_code"]
    code: Annotated[str, Field(min_length=1, max_length=64)]


class AttestationBody(_Body):
    about: About
    claim: Annotated[OcopRating | CertificationClaim | CodeClaim, Field(discriminator="type")]
    status: Literal["active", "revoked"]


class HeadsBody(_Body):
    size: Annotated[int, Field(ge=0, lt=2**53)]
    map_root: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    map_size: Annotated[int, Field(ge=0, lt=2**53)]
    prev_heads: Annotated[int, Field(ge=0, lt=2**53)] | None = None


SCHEMAS: dict[str, type[_Body]] = {
    "org": OrgBody,
    "key": KeyBody,
    "product": ProductBody,
    "attestation": AttestationBody,
    "heads": HeadsBody,
}


def validate_body(kind: str, body: Any) -> dict[str, Any]:
    """``body`` is exactly a ``kind`` body; returns it unchanged, else raises ``InputError`` naming the field."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise InputError(f"unknown entry kind: expected one of {sorted(SCHEMAS)}, got {kind!r}", field="kind")
    if not isinstance(body, Mapping):
        raise InputError(f"{kind} body must be an object, got {type(body).__name__}", field="body")
    try:
        schema.model_validate(dict(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InputError(f"{kind} body: {where}: {first['msg']}", field=f"body.{where}") from None
    if kind == "key":
        _check_key_body(body)
    return dict(body)


def _check_key_body(body: Mapping[str, Any]) -> None:
    if (body["action"] == "register") != (body.get("public_key") is not None):
        raise InputError("key body: public_key is given exactly on register", field="body.public_key")
    if body.get("public_key") is not None and len(signing.decode_b64(body["public_key"], "public_key")) != 32:
        raise InputError("key body: public_key must be 32 bytes (Ed25519), base64", field="body.public_key")


def key_registration(org: str, public_key_b64: str, effective: str, log_key_id: str) -> dict[str, Any]:
    """The statement that registers a key: what its holder signs as proof of possession (``pop``).

    Body exactly ``{"action": "register", "org", "public_key", "effective"}``; seq 0, signed by the log key.
    """
    raw = signing.decode_b64(public_key_b64, "public_key")
    body = validate_body(
        "key", {"action": "register", "org": org, "public_key": public_key_b64, "effective": effective}
    )
    return statements.statement(
        kind="key", subject=f"key:{signing.key_id(raw)}", seq=0, prev=None, body=body, signer=log_key_id
    )


def body_of(ent: Mapping[str, Any]) -> dict[str, Any]:
    """The validated body of one v2 entry."""
    return validate_body(str(ent.get("kind")), ent.get("body"))


def check_sequence(entries: Sequence[Mapping[str, Any]]) -> str:
    """The entries are one subject's, with seq 0, 1, 2, ...; returns the subject."""
    if not entries:
        raise VerificationError("a subject has no entries", check="chain")
    subject = entries[0].get("subject")
    for n, ent in enumerate(entries):
        if ent.get("subject") != subject or ent.get("seq") != n:
            raise VerificationError(
                f"entries of {subject} out of order: expected seq {n}, got {ent.get('subject')} seq {ent.get('seq')}",
                check="chain",
                expected=n,
                found=ent.get("seq"),
            )
    return str(subject)


def current(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A subject's current record: the newest body (org, product, attestation) or a key's folded state.

    A key's state is ``{"key_id", "org", "public_key", "registered", "retired", "revoked", "reason"}``
    (times as RFC 3339 text or None).
    """
    subject = check_sequence(entries)
    if subject.startswith("key:"):
        return key_state(entries)
    return body_of(entries[-1])


def key_state(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Fold a key's entries: registered first, then at most one retire and one revoke."""
    subject = check_sequence(entries)
    first = body_of(entries[0])
    if first["action"] != "register":
        raise VerificationError(f"{subject} starts with {first['action']}, not register", check="chain")
    state: dict[str, Any] = {
        "key_id": subject.removeprefix("key:"),
        "org": first["org"],
        "public_key": first["public_key"],
        "registered": first["effective"],
        "retired": None,
        "revoked": None,
        "reason": None,
    }
    for ent in entries[1:]:
        body = body_of(ent)
        if body["action"] == "register" or body["org"] != state["org"]:
            raise VerificationError(f"{subject}: a later entry re-registers or moves the key", check="chain")
        field = "retired" if body["action"] == "retire" else "revoked"
        if state[field] is None:
            state[field] = body["effective"]
            state["reason"] = body.get("reason") or state["reason"]
    return state


def in_force(indexed: Sequence[tuple[int, Mapping[str, Any]]], before: int) -> dict[str, Any] | None:
    """The body of the newest entry at a log index below ``before`` ((index, entry) pairs), or None."""
    chosen = None
    for index, ent in indexed:
        if index < before and (chosen is None or index > chosen[0]):
            chosen = (index, ent)
    return None if chosen is None else body_of(chosen[1])


def key_owner(key_entries: Sequence[Mapping[str, Any]], kid: str, at_time: str | datetime) -> str:
    """The slug of the organization ``kid`` signed for at ``at_time`` (a record time).

    Raises ``VerificationError(check="attribution")`` if the key's entries are not ``kid``'s, the key was
    registered after ``at_time`` or revoked at or before it. A retired key's old entries stay valid; a
    retired key signs nothing new (a signature recorded after its retirement is refused too).
    """
    if not key_entries or key_entries[0].get("subject") != f"key:{kid}":
        raise VerificationError(f"no key entries for {kid}", check="attribution", found=kid)
    state = key_state(key_entries)
    when = parse_time(at_time, "record time", "attribution")
    if when < parse_time(state["registered"], "registered", "attribution"):
        raise VerificationError(
            f"key {kid} was registered at {state['registered']}, after the entry's record time {at_time}",
            check="attribution",
            expected=f"recorded after {state['registered']}",
            found=str(at_time),
        )
    for field in ("revoked", "retired"):
        if state[field] is not None and when >= parse_time(state[field], field, "attribution"):
            raise VerificationError(
                f"key {kid} was {field} at {state[field]}; entry recorded at {at_time}",
                check="attribution",
                expected=f"recorded before {state[field]}",
                found=str(at_time),
            )
    return str(state["org"])


def org_kind(org_entries: Sequence[Mapping[str, Any]]) -> str:
    """The kind an organization's current ``org`` entry gives it."""
    return str(current(org_entries)["kind"])


def active_attestations(chains: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The current bodies of attestation chains whose newest entry is still ``active``."""
    return [body for body in (current(chain) for chain in chains) if body["status"] == "active"]
