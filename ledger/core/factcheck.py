"""The facts a page shows about a lot's product, checked against the signed log (pure; issue 11).

The ``product`` table is the operator's working copy; the truth is the product's format v2
chain (``product:<gtin>``). ``check_product`` verifies that chain (signatures by the log key or
by a key the ``key`` entries register, seq/prev links, stored leaf hashes) and that every fact of
the row that a page, certificate or bundle shows equals the newest signed version; a difference
is ``tampered`` with check ``record``, naming the fact ("product name", "OCOP stars", ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.core import masterdata, merkle, statements
from ledger.errors import LedgerError, VerificationError

# fact shown on pages -> (product row column, path in the signed body)
PRODUCT_FACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "product name": ("name_vi", ("names", "vi")),
    "product name (English)": ("name_en", ("names", "en")),
    "product name (Chinese)": ("name_zh", ("names", "zh")),
    "product name (Japanese)": ("name_ja", ("names", "ja")),
    "product category": ("category", ("category",)),
    "brand": ("brand", ("brand",)),
    "net content": ("net_content", ("net_content",)),
    "product images": ("images", ("images",)),
    "OCOP stars": ("ocop_stars", ("declared", "ocop_stars")),
    "OCOP year": ("ocop_year", ("declared", "ocop_year")),
    "certifications": ("certifications", ("declared", "certifications")),
}


ORG_FACTS: dict[str, str] = {"producer name": "name", "producer province": "province", "producer kind": "kind"}


@dataclass
class ProductChain:
    """A product's row and its log chain, as plain values (``ledger.service`` reads them)."""

    row: Mapping[str, Any]
    entries: Sequence[tuple[int, Mapping[str, Any], bytes]]  # (log index, entry, stored leaf hash)
    signer_keys: Mapping[str, bytes] = field(default_factory=dict)  # key id -> raw public key (log key included)
    org_row: Mapping[str, Any] | None = None  # the producer (the lot's organization) and its org chain
    org_entries: Sequence[tuple[int, Mapping[str, Any], bytes]] = ()
    # the attestation chains about the product (``attestation:<authority>:<n>``): pages say who vouches from them
    attestations: Sequence[Sequence[tuple[int, Mapping[str, Any], bytes]]] = ()


def check_product(chain: ProductChain, before: int | None = None) -> dict[str, Any] | None:
    """Verify the chain and the row's facts; return the version in force before log index ``before``."""
    if not chain.entries:
        return None
    prev: str | None = None
    for n, (index, ent, stored) in enumerate(chain.entries):
        prev = _check_entry(ent, index, stored, n, prev, chain.signer_keys)
    newest_index, newest, _ = chain.entries[-1]
    body = _body(newest, newest_index)
    for fact, (column, path) in PRODUCT_FACTS.items():
        signed = fact_value(body, path)
        found = chain.row.get(column)
        if norm(found) != norm(signed):
            raise VerificationError(
                f"{fact} differs from the signed product entry: expected {signed!r}, got {found!r}",
                check="record",
                index=newest_index,
                expected=signed,
                found=found,
            )
    check_org(chain)
    for att in chain.attestations:  # an edited attestation is tampering, never a silently missing voucher
        prev = None
        for n, (index, ent, stored) in enumerate(att):
            prev = _check_entry(ent, index, stored, n, prev, chain.signer_keys)
    if before is None:
        return body
    try:
        return masterdata.in_force([(i, e) for i, e, _ in chain.entries], before) or body
    except (LedgerError, ValueError) as exc:
        raise VerificationError(f"a product version has a malformed body: {exc}", check="record") from exc


def check_org(chain: ProductChain) -> None:
    """The producer's row agrees with its newest org entry, signed by the log key (facts on pages)."""
    if chain.org_row is None or not chain.org_entries:
        return
    prev: str | None = None
    for n, (index, ent, stored) in enumerate(chain.org_entries):
        prev = _check_entry(ent, index, stored, n, prev, chain.signer_keys)
    newest_index, newest, _ = chain.org_entries[-1]
    body = _body(newest, newest_index)
    for fact, column in ORG_FACTS.items():
        if chain.org_row.get(column) != body.get(column):
            raise VerificationError(
                f"{fact} differs from the signed organization entry: "
                f"expected {body.get(column)!r}, got {chain.org_row.get(column)!r}",
                check="record",
                index=newest_index,
                expected=body.get(column),
                found=chain.org_row.get(column),
            )


def _body(ent: Mapping[str, Any], index: int) -> dict[str, Any]:
    try:
        return masterdata.body_of(ent)
    except (LedgerError, ValueError) as exc:
        raise VerificationError(f"signed entry has a malformed body: {exc}", check="record", index=index) from exc


def _check_entry(
    ent: Mapping[str, Any], index: int, stored: bytes, n: int, prev: str | None, keys: Mapping[str, bytes]
) -> str:
    try:
        pub = keys.get(str(ent.get("signer")))
        if pub is None:
            raise VerificationError(f"signer is not a registered key: got {ent.get('signer')}", check="signature")
        stmt = statements.verify_entry(ent, pub)
        leaf = merkle.leaf_hash(statements.entry_bytes(ent))
    except VerificationError as exc:
        raise exc.at(index=index) from None
    except (LedgerError, ValueError) as exc:
        raise VerificationError(f"product entry is malformed: {exc}", check="record", index=index) from exc
    if stmt["seq"] != n or stmt["prev"] != prev:
        raise VerificationError(
            f"product entry out of order: expected seq {n} after {prev}, got seq {stmt['seq']} after {stmt['prev']}",
            check="chain",
            index=index,
        )
    if stored != leaf:
        raise VerificationError(
            f"stored leaf hash differs from the product entry's: expected {leaf.hex()}, got {stored.hex()}",
            check="leaf",
            index=index,
        )
    return leaf.hex()


def fact_value(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def norm(value: Any) -> Any:
    if isinstance(value, list):
        return [{k: v for k, v in c.items() if v is not None} if isinstance(c, Mapping) else c for c in value]
    return value


def key_table(registrations: Sequence[Mapping[str, Any]], log_key: tuple[str, bytes] | None) -> dict[str, bytes]:
    """key id -> public key from ``key`` register entries that verify under the log key (and the log key)."""
    if log_key is None:
        return {}
    out = {log_key[0]: log_key[1]}
    for ent in registrations:
        try:
            stmt = statements.verify_entry(ent, log_key[1])
        except (LedgerError, ValueError):
            continue  # a registration that does not verify registers nothing
        if stmt["body"].get("action") == "register":
            out[str(stmt["subject"]).removeprefix("key:")] = statements.registered_key(stmt)
    return out
