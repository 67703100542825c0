"""Canonical bytes of statements and entries (RFC 8785 JSON Canonicalization Scheme).

CONSENSUS-CRITICAL: signatures and leaf hashes are computed over these bytes. Any change to
what a statement holds or how it is serialized invalidates existing proofs and needs a new
statement version (``"v"``), never an edit in place.

A statement is ``{"v": 1, "lot", "seq", "prev", "event", "signer"}``; an entry is the statement
plus ``"sig"`` (base64 Ed25519 over the statement's canonical bytes); a log leaf's data is the
entry's canonical bytes.

For speed, values without floats, big integers or non-ASCII keys go through ``json.dumps``,
whose output for them is byte-identical to RFC 8785 (the tests check this property); all
other values go through the ``rfc8785`` reference implementation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import rfc8785

from ledger.errors import InputError

STATEMENT_VERSION = 1
STATEMENT_KEYS = frozenset({"v", "lot", "seq", "prev", "event", "signer"})
ENTRY_KEYS = STATEMENT_KEYS | {"sig"}
_MAX_SAFE_INT = 2**53 - 1
_encode_string = json.encoder.encode_basestring  # the escapes json.dumps(ensure_ascii=False) uses
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _fast_path_safe(value: Any) -> bool:
    """True when ``json.dumps`` gives exactly the RFC 8785 bytes for ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) or v is None or isinstance(v, bool):
            continue
        if isinstance(v, int):
            if -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT:
                continue
            return False
        if isinstance(v, dict):
            for k in v:
                if not isinstance(k, str) or not k.isascii():
                    return False
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
        else:  # floats and anything exotic
            return False
    return True


def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value; raise ``InputError`` if it has none."""
    try:
        if _fast_path_safe(value):
            return _dumps(value).encode("utf-8")
        return rfc8785.dumps(value)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise InputError(f"value cannot be canonicalized as RFC 8785 JSON: {exc}") from exc


def from_canonical(data: bytes) -> Any:
    """Parse canonical bytes back into a JSON value."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}") from exc


def statement(*, lot: str, seq: int, prev: str | None, event: Mapping[str, Any], signer: str) -> dict[str, Any]:
    """The statement object that is signed."""
    return {
        "v": STATEMENT_VERSION,
        "lot": lot,
        "seq": seq,
        "prev": prev,
        "event": dict(event),
        "signer": signer,
    }


def statement_bytes(stmt: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a statement (what the signature covers)."""
    keys = set(stmt)
    if keys != STATEMENT_KEYS:
        raise InputError(f"statement has wrong fields: expected {sorted(STATEMENT_KEYS)}, got {sorted(keys)}")
    if stmt["v"] != STATEMENT_VERSION:
        raise InputError(f"unsupported statement version: expected {STATEMENT_VERSION}, got {stmt['v']!r}")
    return canonicalize(dict(stmt))


class CanonicalStatement:
    """A statement's canonical bytes, and its entry's, with the event canonicalized once.

    RFC 8785 serializes an object as its members sorted by key, each member's value in its
    own canonical form, so the entry bytes can be assembled from the statement's members plus
    ``"sig"``. The bytes are identical to ``statement_bytes`` / ``entry_bytes`` (tested); this
    only saves re-walking the event on the append path.
    """

    __slots__ = ("event_bytes", "bytes", "_head", "_tail")

    def __init__(self, stmt: Mapping[str, Any], event_bytes: bytes | None = None) -> None:
        """``event_bytes``: the event's canonical bytes when the caller has them already (e.g. the
        audit, which has just checked that the stored event text is canonical)."""
        if stmt.keys() != STATEMENT_KEYS:
            keys = set(stmt)
            raise InputError(f"statement has wrong fields: expected {sorted(STATEMENT_KEYS)}, got {sorted(keys)}")
        if stmt["v"] != STATEMENT_VERSION:
            raise InputError(f"unsupported statement version: expected {STATEMENT_VERSION}, got {stmt['v']!r}")
        self.event_bytes = canonicalize(stmt["event"]) if event_bytes is None else event_bytes
        # the members in RFC 8785 order (the keys are exactly STATEMENT_KEYS, all ASCII); an entry's
        # "sig" sorts between "seq" and "signer", so its bytes are _head + sig member + _tail
        self._head = b'{"event":%b,"lot":%b,"prev":%b,"seq":%b' % (
            self.event_bytes,
            _scalar(stmt["lot"]),
            _scalar(stmt["prev"]),
            _scalar(stmt["seq"]),
        )
        self._tail = b',"signer":%b,"v":%b}' % (_scalar(stmt["signer"]), _scalar(stmt["v"]))
        self.bytes = self._head + self._tail

    def entry_bytes(self, sig_b64: str) -> bytes:
        """Canonical bytes of the entry this statement makes with signature ``sig_b64``."""
        return b'%b,"sig":%b%b' % (self._head, _scalar(sig_b64), self._tail)


def _scalar(value: Any) -> bytes:
    """Canonical bytes of a statement's top-level member: usually a plain string, int or null."""
    kind = type(value)
    if kind is str:
        try:
            return _encode_string(value).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"value cannot be canonicalized as RFC 8785 JSON: {exc}") from exc
    if kind is int and -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
        return str(value).encode()
    if value is None:
        return b"null"
    return canonicalize(value)


def entry(stmt: Mapping[str, Any], sig_b64: str) -> dict[str, Any]:
    """The log entry: the statement plus its signature."""
    return {**stmt, "sig": sig_b64}


def entry_bytes(ent: Mapping[str, Any]) -> bytes:
    """Canonical bytes of an entry: the data of its log leaf."""
    keys = set(ent)
    if keys != ENTRY_KEYS:
        raise InputError(f"entry has wrong fields: expected {sorted(ENTRY_KEYS)}, got {sorted(keys)}")
    return canonicalize(dict(ent))


def split_entry(ent: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Separate an entry into its statement and its base64 signature."""
    stmt = {k: v for k, v in ent.items() if k != "sig"}
    sig = ent.get("sig")
    if not isinstance(sig, str):
        raise InputError("entry has no signature: expected a base64 string in 'sig'")
    return stmt, sig
