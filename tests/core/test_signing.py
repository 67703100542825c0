"""Ed25519 signatures, key ids and sealed private keys."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import signing
from ledger.errors import ConfigError, InputError, SignatureError

MASTER = bytes(range(32))
OTHER_MASTER = bytes(range(1, 33))
PRIV = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 test 1
PUB = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
MESSAGE = b'{"event":{},"lot":"08930000045676.A1","prev":null,"seq":0,"signer":"x","v":1}'


def _flip_b64(sig: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(sig))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def test_key_id_format() -> None:
    kid = signing.key_id(PUB)
    assert re.fullmatch(r"ed25519:[0-9a-f]{64}", kid)
    assert kid == "ed25519:" + hashlib.sha256(PUB).hexdigest()
    with pytest.raises(InputError, match="public key has wrong length: expected 32, got 31"):
        signing.key_id(PUB[:31])


def test_signer_matches_rfc8032_vector() -> None:
    signer = signing.Signer(PRIV)
    assert signer.public_key == PUB == signing.public_key(PRIV)
    assert signer.key_id == signing.key_id(PUB)
    # RFC 8032 §7.1 test 1: the signature of the empty message
    expected = (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert base64.b64decode(signer.sign(b"")).hex() == expected
    assert PRIV.hex() not in repr(signer)
    assert repr(signer) == f"Signer({signer.key_id})"


@settings(max_examples=300, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=2048))
def test_libsodium_signer_gives_openssls_bytes(seed: bytes, message: bytes) -> None:
    """Ed25519 is deterministic: the Signer (libsodium) and OpenSSL (``cryptography``) agree byte for byte."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ossl = Ed25519PrivateKey.from_private_bytes(seed)
    signer = signing.Signer(seed)
    raw = serialization.Encoding.Raw
    assert signer.public_key == ossl.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    assert base64.b64decode(signer.sign(message)) == ossl.sign(message) == signer.sign_raw(message)
    signing.verify_signature(signer.public_key, message, signer.sign(message))


def test_signer_refuses_a_private_key_of_the_wrong_length() -> None:
    with pytest.raises(InputError, match="private key has wrong length: expected 32, got 31"):
        signing.Signer(PRIV[:31])


def test_sign_and_verify() -> None:
    signer = signing.Signer(signing.generate_private_key())
    sig = signer.sign(MESSAGE)
    signing.verify_signature(signer.public_key, MESSAGE, sig)
    signing.verify_signature(signing.load_public_key(signer.public_key), MESSAGE, sig)
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify_signature(PUB, MESSAGE, sig)  # another key
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify_signature(signer.public_key, MESSAGE + b" ", sig)


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 511), msg_bit=st.integers(0, len(MESSAGE) * 8 - 1))
def test_any_bit_flip_is_rejected(bit: int, msg_bit: int) -> None:
    signer = signing.Signer(PRIV)
    sig = signer.sign(MESSAGE)
    with pytest.raises(SignatureError):
        signing.verify_signature(PUB, MESSAGE, _flip_b64(sig, bit))
    msg = bytearray(MESSAGE)
    msg[msg_bit // 8] ^= 1 << (msg_bit % 8)
    with pytest.raises(SignatureError):
        signing.verify_signature(PUB, bytes(msg), sig)


def test_malformed_signatures() -> None:
    with pytest.raises(SignatureError, match="not valid base64"):
        signing.verify_signature(PUB, MESSAGE, "not base64!")
    with pytest.raises(SignatureError, match="signature has wrong length: expected 64 bytes, got 3"):
        signing.verify_signature(PUB, MESSAGE, "YWJj")
    with pytest.raises(InputError, match="expected 32, got 4"):
        signing.verify_signature(b"abcd", MESSAGE, signing.Signer(PRIV).sign(MESSAGE))
    with pytest.raises(InputError, match="public key is not valid base64"):
        signing.decode_b64("***", "public key")


# --- private keys at rest -----------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    kid = signing.key_id(PUB)
    sealed = signing.seal_private_key(MASTER, PRIV, kid)
    assert PRIV not in sealed
    assert signing.open_private_key(MASTER, sealed, kid) == PRIV
    assert signing.seal_private_key(MASTER, PRIV, kid) != sealed  # fresh nonce each time


def test_wrong_master_key_is_a_config_error() -> None:
    kid = signing.key_id(PUB)
    sealed = signing.seal_private_key(MASTER, PRIV, kid)
    with pytest.raises(ConfigError, match=f"cannot decrypt the private key of {kid}: the master key is wrong"):
        signing.open_private_key(OTHER_MASTER, sealed, kid)


def test_sealed_key_is_bound_to_its_key_id() -> None:
    other_pub = signing.public_key(signing.generate_private_key())
    kid, other_kid = signing.key_id(PUB), signing.key_id(other_pub)
    sealed = signing.seal_private_key(MASTER, PRIV, kid)
    with pytest.raises(ConfigError, match=f"private key of {other_kid}"):
        signing.open_private_key(MASTER, sealed, other_kid)


def test_tampered_or_unknown_sealed_keys() -> None:
    kid = signing.key_id(PUB)
    sealed = bytearray(signing.seal_private_key(MASTER, PRIV, kid))
    sealed[-1] ^= 1
    with pytest.raises(ConfigError, match="master key is wrong"):
        signing.open_private_key(MASTER, bytes(sealed), kid)
    with pytest.raises(ConfigError, match="unknown format"):
        signing.open_private_key(MASTER, b"\x02" + bytes(sealed[1:]), kid)
    with pytest.raises(ConfigError, match="unknown format"):
        signing.open_private_key(MASTER, b"\x01abc", kid)


def test_master_key_length_and_fingerprint() -> None:
    with pytest.raises(ConfigError, match="master key has wrong length: expected 32 bytes, got 16"):
        signing.seal_private_key(MASTER[:16], PRIV, signing.key_id(PUB))
    fp = signing.master_key_fingerprint(MASTER)
    assert fp == signing.master_key_fingerprint(MASTER)
    assert fp != signing.master_key_fingerprint(OTHER_MASTER)
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
