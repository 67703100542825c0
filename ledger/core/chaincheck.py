"""The checks of one entry of a lot's hash chain: one copy, used by every verifier.

``ledger.core.verify`` (``/verify`` and the page), ``ledger.core.bundle_verify`` (offline bundles)
and ``ledger.audit.auditor`` (the full-log audit) all check entries with these functions, so the
rules, the normalization of values and the time parsing cannot drift apart.

Each ``check_*`` returns None (or the value it parsed) and raises a ``VerificationError`` whose
``check`` field names the failed check, with ``expected`` / ``found`` where values differ:

- ``record``:    the stored event is canonical JSON of an object and the indexed columns agree
- ``signature``: Ed25519 over the statement's canonical bytes, by the signer's key
- ``key``:       the key was not revoked when the entry was recorded, and may sign this step
- ``chain``:     the entry is the lot's, seq counts up, ``prev`` is the previous leaf hash;
                 transformation inputs name an earlier entry of the input lot (``lineage`` in bundles)
- ``leaf``:      the stored leaf hash is the one recomputed from the entry
- ``inclusion``: the leaf is included at its index under the tree head

Pure: plain values in; the caller reads the store, the bundle or the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from ledger.core import canonical, merkle, signing
from ledger.core.records import lot_fields_from_ilmd
from ledger.errors import ChainLinkError, LedgerError, SignatureError, VerificationError

MaySign = Callable[[Mapping[str, Any], str, str], bool]
"""(key {org_id, org_kind, ...}, bizStep, the lot owner's org id) -> may this key sign it."""

HeadIndex = Callable[[str, str], "int | None"]
"""(input lot, leaf hash hex) -> log index of that entry of that lot, or None when there is none."""

COLUMNS = (("event_type", "type"), ("biz_step", "bizStep"), ("event_time", "eventTime"))
"""Indexed columns of a stored entry and the event member each must equal."""


def normalize(value: Any) -> Any:
    """One normal form for comparing stored and signed values: 12.0 is 12, a date is its ISO text."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def parse_time(value: Any, what: str = "recordTime", check: str = "key") -> datetime:
    """An RFC 3339 timestamp as an aware datetime; naive datetimes are taken as UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise VerificationError(f"{what} is not a timestamp: got {value!r}", check=check, found=value) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_record(text: str, columns: Mapping[str, Any]) -> dict[str, Any]:
    """The stored event text is canonical JSON of an object and ``columns`` agree with it."""
    try:
        event = canonical.from_canonical(str(text).encode())
        canonical_text = canonical.canonicalize(event).decode() if isinstance(event, dict) else None
    except (LedgerError, ValueError, TypeError) as exc:
        raise VerificationError(f"stored event is not JSON: {exc}", check="record") from exc
    if not isinstance(event, dict):
        raise VerificationError("stored event is not a JSON object", check="record", found=type(event).__name__)
    if canonical_text != text:
        raise VerificationError("stored event is not in canonical form", check="record")
    for col, key in COLUMNS:
        if col in columns and columns[col] != event.get(key):
            raise VerificationError(
                f"column {col} disagrees with the signed event: expected {event.get(key)!r}, got {columns[col]!r}",
                check="record",
                expected=event.get(key),
                found=columns[col],
            )
    return event


def check_signature(public_key: Any, kid: str, stmt: Mapping[str, Any], sig: str, data: bytes | None = None) -> None:
    """Ed25519 over the statement's canonical bytes (``data`` when the caller has them already);
    ``public_key`` None: the signer is unknown."""
    if public_key is None:
        raise SignatureError(f"signer is not a registered key: got {kid}", found=kid)
    try:
        signing.verify_signature(public_key, canonical.statement_bytes(stmt) if data is None else data, sig)
    except SignatureError:
        raise
    except (LedgerError, ValueError, TypeError) as exc:
        raise SignatureError(f"signature of {kid} cannot be checked: {exc}") from exc


def check_key_valid(
    key: Mapping[str, Any], kid: str, event: Mapping[str, Any], owner: str | None, may_sign: MaySign
) -> None:
    """The key was not revoked when the entry was recorded and may sign this step on ``owner``'s lot."""
    recorded = parse_time(event.get("recordTime"))
    revoked = None if key.get("revoked_at") is None else parse_time(key["revoked_at"], "revoked_at")
    if revoked is not None and recorded >= revoked:
        raise VerificationError(
            f"key {kid} was revoked at {revoked.isoformat()}; entry recorded at {event.get('recordTime')}",
            check="key",
            expected=f"recorded before {revoked.isoformat()}",
            found=event.get("recordTime"),
        )
    if owner is not None and not may_sign(key, str(event.get("bizStep")), owner):
        raise VerificationError(
            f"key {kid} of organization {key['org_id']} may not sign {event.get('bizStep')} for this lot",
            check="key",
            found=kid,
        )


def check_link(lot: str, stmt: Mapping[str, Any], want_seq: int, want_prev: str | None, *also: str | None) -> None:
    """The entry is ``lot``'s, has seq ``want_seq`` and links to ``want_prev`` (or one of ``also``)."""
    if stmt.get("lot") != lot:
        raise ChainLinkError(
            f"entry belongs to another lot: expected {lot}, got {stmt.get('lot')}", expected=lot, found=stmt.get("lot")
        )
    seq = stmt.get("seq")
    if seq != want_seq or isinstance(seq, bool):
        raise ChainLinkError(
            f"sequence number out of order: expected {want_seq}, got {seq}", expected=want_seq, found=seq
        )
    if stmt.get("prev") != want_prev and stmt.get("prev") not in also:
        raise ChainLinkError(
            f"prev hash does not link to the lot's previous entry: expected {want_prev}, got {stmt.get('prev')}",
            expected=want_prev,
            found=stmt.get("prev"),
        )


def input_refs(event: Any, check: str = "chain") -> list[tuple[str, str]]:
    """The (lot, head) pairs a transformation names in ``ocop:inputs``; raises if malformed."""
    named = event.get("ocop:inputs", []) if isinstance(event, dict) else []
    if not isinstance(named, list):
        raise VerificationError(f"ocop:inputs is not a list: got {type(named).__name__}", check=check)
    refs = []
    for inp in named:
        if not isinstance(inp, dict) or not isinstance(inp.get("lot"), str) or not isinstance(inp.get("head"), str):
            raise VerificationError(f"expected inputs {{lot, head}}, got {inp!r}", check=check, found=inp)
        refs.append((inp["lot"], inp["head"]))
    return refs


def check_inputs(event: Any, index: int, head_index: HeadIndex, check: str = "chain") -> None:
    """Every input a transformation names is an entry of that lot earlier in the log than ``index``."""
    check_input_refs(input_refs(event, check), index, head_index, check)


def check_input_refs(refs: Sequence[tuple[str, str]], index: int, head_index: HeadIndex, check: str = "chain") -> None:
    """Each (lot, head) names an entry of that lot earlier in the log than ``index``."""
    for lot, head in refs:
        at = head_index(lot, head)
        if at is None or at >= index:
            found = "none" if at is None else f"one at log index {at}, not before {index}"
            cls = ChainLinkError if check == "chain" else VerificationError
            raise cls(
                f"input lot {lot} has no earlier entry with hash {head}: "
                f"expected an entry of {lot} with that leaf hash before log index {index}, got {found}",
                check=check,
                expected=head,
                found=found,
            )


def check_leaf(stored: bytes, computed: bytes) -> None:
    if stored != computed:
        raise VerificationError(
            f"stored leaf hash differs from the entry's: expected {computed.hex()}, got {stored.hex()}",
            check="leaf",
            expected=computed.hex(),
            found=stored.hex(),
        )


def check_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes] | None, root: bytes) -> None:
    """The leaf is included at ``index`` under ``root`` of a tree of ``size`` (``proof`` None: none was found)."""
    if proof is None:
        raise VerificationError(f"no inclusion proof for log index {index} at tree size {size}", check="inclusion")
    try:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    except VerificationError as exc:
        exc.check = "inclusion"
        raise exc.at(index=index) from None


def signed_lot_fields(commissioning: Mapping[str, Any]) -> dict[str, Any]:
    """The lot's master data as its signed commissioning event states it (where ingest takes it from)."""
    ilmd = commissioning.get("ilmd")
    quantities = commissioning.get("quantityList")
    qty = quantities[0] if isinstance(quantities, list) and quantities and isinstance(quantities[0], dict) else {}
    try:
        fields = lot_fields_from_ilmd(ilmd if isinstance(ilmd, dict) else {})
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"commissioning ilmd is malformed: {exc}", check="record") from exc
    return fields | {
        "quantity": qty.get("quantity"),
        "unit": qty.get("uom"),
    }


def check_lot_fields(stored: Mapping[str, Any], signed: Mapping[str, Any]) -> None:
    """Every signed lot field equals the stored one (``stored`` maps the same names, ``gtin`` included)."""
    for problem in lot_field_mismatches(stored, signed):
        raise problem


def lot_field_mismatches(stored: Mapping[str, Any], signed: Mapping[str, Any]) -> list[VerificationError]:
    """One ``record`` error for each signed lot field that the stored lot contradicts."""
    return [
        VerificationError(
            f"lot field {name} differs from the signed commissioning event: "
            f"expected {value!r}, got {stored.get(name)!r}",
            check="record",
            expected=value,
            found=stored.get(name),
        )
        for name, value in signed.items()
        if normalize(stored.get(name)) != normalize(value)
    ]
