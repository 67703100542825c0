"""Format v2 statements: exact fields, subjects of their kind, signatures and proof of possession."""

from __future__ import annotations

import base64

import pytest

from ledger.core import signing, statements
from ledger.errors import InputError, SignatureError

LOG = signing.Signer(bytes(range(32)))
ORG_KEY = signing.Signer(bytes(range(1, 33)))


def _key_registration(seq: int = 0, prev: str | None = None) -> dict[str, object]:
    body = {
        "action": "register",
        "org": "htx-phu-hoi",
        "public_key": base64.b64encode(ORG_KEY.public_key).decode(),
        "effective": "2026-07-01T00:00:00Z",
    }
    return statements.statement(
        kind="key", subject=f"key:{ORG_KEY.key_id}", seq=seq, prev=prev, body=body, signer=LOG.key_id
    )


def test_a_key_registration_is_signed_by_the_log_key_and_by_the_key_itself() -> None:
    ent = statements.sign(_key_registration(), LOG, ORG_KEY)
    assert set(ent) == statements.STATEMENT_V2_KEYS | {"sig", "pop"}
    assert statements.verify_entry(ent, LOG.public_key)["subject"] == f"key:{ORG_KEY.key_id}"


def test_a_registration_without_proof_of_possession_is_refused() -> None:
    with pytest.raises(InputError, match="proof of possession"):
        statements.sign(_key_registration(), LOG)
    ent = statements.sign(_key_registration(), LOG, ORG_KEY)
    del ent["pop"]
    with pytest.raises(SignatureError, match="no proof of possession"):
        statements.verify_entry(ent, LOG.public_key)


def test_a_proof_by_another_key_fails() -> None:
    ent = statements.sign(_key_registration(), LOG, ORG_KEY)
    ent["pop"] = LOG.sign(statements.statement_bytes({k: v for k, v in ent.items() if k not in ("sig", "pop")}))
    with pytest.raises(SignatureError):
        statements.verify_entry(ent, LOG.public_key)


def test_any_change_to_the_body_breaks_the_signature() -> None:
    stmt = statements.statement(
        kind="org", subject="org:htx-phu-hoi", seq=0, prev=None,
        body={"name": "HTX Phú Hội", "kind": "cooperative"}, signer=LOG.key_id,
    )  # fmt: skip
    ent = statements.sign(stmt, LOG)
    ent["body"] = {**ent["body"], "kind": "authority"}
    with pytest.raises(SignatureError):
        statements.verify_entry(ent, LOG.public_key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 1}, "unsupported statement version"),
        ({"kind": "product"}, "does not belong to kind"),
        ({"seq": 1}, "prev must be null exactly at seq 0"),
        ({"prev": "ab" * 32}, "prev must be null exactly at seq 0"),
        ({"seq": True}, "seq must be an integer"),
        ({"signer": "rsa:1"}, "signer must be a key id"),
        ({"extra": 1}, "wrong fields"),
    ],
)
def test_malformed_statements_are_refused(change: dict[str, object], message: str) -> None:
    stmt = {"v": 2, "kind": "org", "subject": "org:a-b", "seq": 0, "prev": None, "body": {}, "signer": LOG.key_id}
    with pytest.raises(InputError, match=message):
        statements.statement_bytes({**stmt, **change})


def test_subjects_carry_their_kind() -> None:
    assert statements.subject_of("product", "08930000045676") == "product:08930000045676"
    assert statements.subject_of("heads", "") == statements.HEADS_SUBJECT
    assert statements.kind_of("attestation:ocop-lam-dong:7") == "attestation"
    with pytest.raises(InputError, match="not a v2 subject"):
        statements.kind_of("lot:08930000045676.A")
