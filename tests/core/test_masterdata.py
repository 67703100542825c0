"""Format v2 bodies: exact schemas, current records, versions in force, key attribution."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledger.core import masterdata, merkle, signing, statements
from ledger.errors import InputError, VerificationError

LOG = signing.Signer(bytes(range(32)))
ORG_KEY = signing.Signer(bytes(range(1, 33)))
PUB = base64.b64encode(ORG_KEY.public_key).decode()


def _chain(kind: str, ident: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = None
    for seq, body in enumerate(bodies):
        stmt = statements.statement(
            kind=kind, subject=statements.subject_of(kind, ident), seq=seq, prev=prev, body=body, signer=LOG.key_id
        )
        ent = statements.sign(stmt, LOG, ORG_KEY)
        out.append(ent)
        prev = merkle.leaf_hash(statements.entry_bytes(ent)).hex()
    return out


def _key(*later: dict[str, Any]) -> list[dict[str, Any]]:
    reg = {"action": "register", "org": "htx-phu-hoi", "public_key": PUB, "effective": "2026-07-01T00:00:00Z"}
    return _chain("key", ORG_KEY.key_id, [reg, *later])


PRODUCT = {
    "gtin": "08930000045676",
    "org": "htx-phu-hoi",
    "names": {"vi": "Thanh long ruột đỏ", "en": "Red dragon fruit"},
    "category": "fruit",
    "brand": None,
    "net_content": {"value": 500, "unit": "GRM"},
    "images": [{"sha256": "ab" * 32, "media_type": "image/jpeg"}],
    "declared": {"ocop_stars": 4, "ocop_year": 2024, "certifications": [{"scheme": "VietGAP"}]},
}


def test_each_kind_accepts_its_body() -> None:
    assert masterdata.validate_body("product", PRODUCT) == PRODUCT
    org = {"slug": "so-nn-lam-dong", "name": "Hội đồng OCOP Lâm Đồng", "kind": "authority", "province": None,
           "tax_code": "0312345678", "gln": None, "gs1_prefixes": []}  # fmt: skip
    assert masterdata.validate_body("org", org)["kind"] == "authority"
    att = {"about": {"type": "product", "id": "08930000045676"},
           "claim": {"type": "ocop_rating", "stars": 4, "year": 2024, "decision": "123/QĐ-UBND", "expires": None},
           "status": "active"}  # fmt: skip
    assert masterdata.validate_body("attestation", att) == att


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("product", {**PRODUCT, "ocop_stars": 5}, "ocop_stars"),
        ("product", {**PRODUCT, "gtin": 8930000045676}, "gtin"),
        ("product", {**PRODUCT, "names": {"en": "x"}}, "names.vi"),
        ("product", {**PRODUCT, "declared": {"ocop_stars": "5"}}, "declared.ocop_stars"),
        ("org", {"slug": "a-b", "name": "A", "kind": "bank"}, "kind"),
        ("key", {"action": "register", "org": "a-b", "effective": "2026-07-01T00:00:00Z"}, "public_key"),
        ("key", {"action": "revoke", "org": "a-b", "effective": "2026-07-01 00:00"}, "RFC 3339"),
        ("attestation", {"about": {"type": "lot", "id": "x"}, "claim": {"type": "stars"}, "status": "active"}, "claim"),
        ("nope", {}, "unknown entry kind"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(kind: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        masterdata.validate_body(kind, body)


def test_current_is_the_newest_version_and_in_force_the_one_before_an_index() -> None:
    v2 = {**PRODUCT, "declared": {"ocop_stars": 5, "ocop_year": 2025, "certifications": []}}
    chain = _chain("product", "08930000045676", [PRODUCT, v2])
    assert masterdata.current(chain)["declared"]["ocop_stars"] == 5
    indexed = [(10, chain[0]), (20, chain[1])]
    assert masterdata.in_force(indexed, 15) == PRODUCT
    assert masterdata.in_force(indexed, 21) == v2
    assert masterdata.in_force(indexed, 10) is None


def test_entries_out_of_order_are_refused() -> None:
    chain = _chain("product", "08930000045676", [PRODUCT, PRODUCT])
    with pytest.raises(VerificationError, match="out of order"):
        masterdata.current([chain[1], chain[0]])


def test_key_owner_follows_registration_and_revocation() -> None:
    revoke = {"action": "revoke", "org": "htx-phu-hoi", "effective": "2026-08-01T00:00:00Z", "reason": "lost"}
    chain = _key(revoke)
    assert masterdata.key_owner(chain, ORG_KEY.key_id, "2026-07-15T00:00:00Z") == "htx-phu-hoi"
    with pytest.raises(VerificationError, match="revoked at 2026-08-01") as info:
        masterdata.key_owner(chain, ORG_KEY.key_id, "2026-08-01T00:00:00+00:00")
    assert info.value.check == "attribution"
    with pytest.raises(VerificationError, match="registered at"):
        masterdata.key_owner(chain, ORG_KEY.key_id, "2026-06-30T23:59:59Z")
    with pytest.raises(VerificationError, match="no key entries"):
        masterdata.key_owner(chain, LOG.key_id, "2026-07-15T00:00:00Z")
    assert masterdata.current(chain)["revoked"] == "2026-08-01T00:00:00Z"


def test_a_key_cannot_move_to_another_organization() -> None:
    chain = _key({"action": "retire", "org": "other-org", "effective": "2026-08-01T00:00:00Z"})
    with pytest.raises(VerificationError, match="moves the key"):
        masterdata.key_owner(chain, ORG_KEY.key_id, "2026-07-15T00:00:00Z")


def test_org_kind_reads_the_current_org_entry() -> None:
    base = {"slug": "hd-ocop", "name": "Hội đồng OCOP", "kind": "company", "gs1_prefixes": []}
    chain = _chain("org", "hd-ocop", [base, {**base, "kind": "authority"}])
    assert masterdata.org_kind(chain) == "authority"
    assert masterdata.org_kind(chain[:1]) == "company"
