"""Format v2 log entries: organizations, keys, product master data, attestations and heads.

CONSENSUS-CRITICAL. Version 1 statements (``ledger.core.canonical``) record a lot's events and
stay exactly as they are. Version 2 statements record the facts a verifier needs besides the
events, in the same log and under the same tree:

    {"v": 2, "kind": K, "subject": S, "seq": n, "prev": hex | null, "body": {...}, "signer": key id}

* ``kind`` is one of ``KINDS``; ``subject`` names what the entry is about and starts with the
  kind's prefix (``org:<slug>``, ``key:<key id>``, ``product:<gtin-14>``,
  ``attestation:<authority slug>:<number>``, ``heads:log``).
* ``seq``/``prev`` chain the entries of one subject exactly as a lot's events are chained: ``seq``
  counts from 0 and ``prev`` is the hex leaf hash of the subject's previous entry (null at 0).
  A new version of a product or an organization is the next entry of its subject; a revocation of
  a key or an attestation too.
* ``body`` is the kind's record (``validate_body`` checks it: exactly the fields of the kind).
* ``signer`` is the key id that signs the statement: the operator's log key for ``org``, ``key``
  and ``heads``; a key of the owning organization for ``product``; a key of an organization of
  kind ``authority`` for ``attestation``.

The entry is the statement plus ``"sig"`` (standard base64 Ed25519 over the statement's RFC 8785
bytes) and, for a key's ``register`` entry only, ``"pop"``: the registered key's own signature
over the same bytes (proof of possession). Leaf data = RFC 8785 bytes of the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.core import canonical, signing
from ledger.errors import InputError, SignatureError

STATEMENT_V2 = 2
KINDS = ("org", "key", "product", "attestation", "heads")
STATEMENT_V2_KEYS = frozenset({"v", "kind", "subject", "seq", "prev", "body", "signer"})
LOG_SIGNED_KINDS = frozenset({"org", "key", "heads"})
HEADS_SUBJECT = "heads:log"


def subject_of(kind: str, ident: str) -> str:
    """The subject of an entry of ``kind`` about ``ident`` (``org``/``htx-phu-hoi`` → ``org:htx-phu-hoi``)."""
    if kind not in KINDS:
        raise InputError(f"unknown entry kind: expected one of {list(KINDS)}, got {kind!r}", field="kind")
    if kind == "heads":
        return HEADS_SUBJECT
    if not ident or any(c.isspace() for c in ident):
        raise InputError(f"{kind} subject needs a non-empty identifier without spaces, got {ident!r}")
    return f"{kind}:{ident}"


def kind_of(subject: str) -> str:
    """The kind a subject belongs to (its prefix)."""
    prefix, sep, rest = subject.partition(":")
    if not sep or prefix not in KINDS or not rest:
        raise InputError(f"not a v2 subject: expected '<kind>:<id>' with a kind in {list(KINDS)}, got {subject!r}")
    return prefix


def statement(
    *, kind: str, subject: str, seq: int, prev: str | None, body: Mapping[str, Any], signer: str
) -> dict[str, Any]:
    """The version-2 statement object that is signed."""
    stmt = {
        "v": STATEMENT_V2,
        "kind": kind,
        "subject": subject,
        "seq": seq,
        "prev": prev,
        "body": dict(body),
        "signer": signer,
    }
    check_statement(stmt)
    return stmt


def check_statement(stmt: Mapping[str, Any]) -> None:
    """The statement has exactly the v2 fields with their types; raise ``InputError`` otherwise."""
    keys = set(stmt)
    if keys != STATEMENT_V2_KEYS:
        raise InputError(f"v2 statement has wrong fields: expected {sorted(STATEMENT_V2_KEYS)}, got {sorted(keys)}")
    if stmt["v"] != STATEMENT_V2 or isinstance(stmt["v"], bool):
        raise InputError(f"unsupported statement version: expected {STATEMENT_V2}, got {stmt['v']!r}")
    kind, subject = stmt["kind"], stmt["subject"]
    if not isinstance(kind, str) or not isinstance(subject, str) or kind_of(subject) != kind:
        raise InputError(f"subject {subject!r} does not belong to kind {kind!r}")
    seq, prev = stmt["seq"], stmt["prev"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**53:
        raise InputError(f"seq must be an integer from 0, got {seq!r}")
    if (seq == 0) != (prev is None):
        raise InputError(f"prev must be null exactly at seq 0: got seq {seq}, prev {prev!r}")
    if prev is not None and not _is_hex32(prev):
        raise InputError(f"prev must be 64 lowercase hex digits, got {prev!r}")
    if not isinstance(stmt["body"], Mapping):
        raise InputError("body must be an object")
    if not isinstance(stmt["signer"], str) or not stmt["signer"].startswith(signing.KEY_ID_PREFIX):
        raise InputError(f"signer must be a key id 'ed25519:<hex>', got {stmt['signer']!r}")


def statement_bytes(stmt: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a v2 statement: what ``sig`` (and ``pop``) cover."""
    check_statement(stmt)
    return canonical.canonicalize(dict(stmt))


def entry(stmt: Mapping[str, Any], sig: str, pop: str | None = None) -> dict[str, Any]:
    """The log entry: the statement, its signature and, for a key registration, the proof of possession."""
    ent = {**stmt, "sig": sig}
    if pop is not None:
        ent["pop"] = pop
    return ent


def split_entry(ent: Mapping[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """(statement, sig, pop) of a v2 entry; exactly the statement's fields, ``sig`` and maybe ``pop``."""
    extra = set(ent) - STATEMENT_V2_KEYS - {"sig", "pop"}
    if extra:
        raise InputError(f"v2 entry has unknown fields {sorted(extra)}")
    sig, pop = ent.get("sig"), ent.get("pop")
    if not isinstance(sig, str):
        raise InputError("v2 entry has no signature: expected a base64 string in 'sig'")
    if pop is not None and not isinstance(pop, str):
        raise InputError("v2 entry's 'pop' must be a base64 string")
    stmt = {k: v for k, v in ent.items() if k not in ("sig", "pop")}
    return stmt, sig, pop


def entry_bytes(ent: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a v2 entry: the data of its log leaf."""
    stmt, _, _ = split_entry(ent)
    check_statement(stmt)
    return canonical.canonicalize(dict(ent))


def needs_pop(stmt: Mapping[str, Any]) -> bool:
    """A key's registration carries the registered key's proof of possession.

    Except a registration migrated from a ledger older than format v2 (``"migrated": true`` in the
    body) of a key its organization holds: the operator never had the private key to prove it with.
    """
    body = stmt.get("body")
    return (
        stmt.get("kind") == "key"
        and isinstance(body, Mapping)
        and body.get("action") == "register"
        and body.get("migrated") is not True
    )


def sign(stmt: Mapping[str, Any], signer: signing.Signer, pop_signer: signing.Signer | None = None) -> dict[str, Any]:
    """Sign a v2 statement (and prove possession of a registered key) into an entry."""
    data = statement_bytes(stmt)
    if stmt["signer"] != signer.key_id:
        raise InputError(f"statement names signer {stmt['signer']}, but the key is {signer.key_id}")
    pop = None
    if needs_pop(stmt):
        if pop_signer is None or pop_signer.key_id != stmt["subject"].removeprefix("key:"):
            raise InputError("a key registration must be signed by the registered key too (proof of possession)")
        pop = pop_signer.sign(data)
    return entry(stmt, signer.sign(data), pop)


def verify_entry(ent: Mapping[str, Any], signer_key: bytes) -> dict[str, Any]:
    """Check a v2 entry's signature (and proof of possession); return its statement.

    ``signer_key`` is the raw public key of ``signer``; for a key registration the registered
    key is the subject itself (``key:<key id>``), whose public key is in the body
    (``public_key``, standard base64) and must hash to that key id.
    """
    stmt, sig, pop = split_entry(ent)
    data = statement_bytes(stmt)
    if signing.key_id(signer_key) != stmt["signer"]:
        raise SignatureError(f"signer key mismatch: expected {stmt['signer']}, got {signing.key_id(signer_key)}")
    signing.verify_signature(signer_key, data, sig)
    if needs_pop(stmt):
        registered = registered_key(stmt)
        if pop is None:
            raise SignatureError(f"key registration of {stmt['subject']} has no proof of possession")
        signing.verify_signature(registered, data, pop)
    elif pop is not None:
        raise InputError("only a key registration carries 'pop'")
    return stmt


def registered_key(stmt: Mapping[str, Any]) -> bytes:
    """The raw public key a ``key`` statement is about, checked against its subject's key id."""
    body = stmt.get("body")
    if not isinstance(body, Mapping) or not isinstance(body.get("public_key"), str):
        raise InputError(f"{stmt.get('subject')}: body needs the registered public key (base64) in 'public_key'")
    raw = signing.decode_b64(body["public_key"], "public_key")
    kid = stmt["subject"].removeprefix("key:")
    if signing.key_id(raw) != kid:
        raise SignatureError(f"registered key does not match its subject: expected {kid}, got {signing.key_id(raw)}")
    return raw


def _is_hex32(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
