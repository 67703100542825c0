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


# --- the verification rule's edge cases (ledger.core.signing module doc) ----------------------
# Where Ed25519 libraries differ: OpenSSL (``cryptography``) accepts every case below except S >= L
# and a non-canonical R; the rule (libsodium's) rejects them all. Honest signatures verify alike.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = (1).to_bytes(32, "little")  # the neutral point (0, 1): order 1


def _point(y: int, x_sign: int = 0) -> bytes:
    return (y | x_sign << 255).to_bytes(32, "little")


def _scalar(seed: bytes) -> int:
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def _sig_with_r(r: bytes, seed: bytes, pub: bytes, msg: bytes) -> str:
    """A signature (R, S = k·a) with R the neutral point: [S]B = [k]A holds, so R + [k]A = [S]B."""
    k = int.from_bytes(hashlib.sha512(r + pub + msg).digest(), "little") % _L
    return base64.b64encode(r + (k * _scalar(seed) % _L).to_bytes(32, "little")).decode()


_FORGED_ZERO = base64.b64encode(_IDENTITY + bytes(32)).decode()  # R = neutral, S = 0: "valid" for a small-order A


@pytest.mark.parametrize(
    ("name", "pub", "sig"),
    [
        ("small-order key: the neutral point", _IDENTITY, _FORGED_ZERO),
        ("small-order key: (0, -1), order 2", _point(_P - 1), _FORGED_ZERO),
        ("non-canonical key: the neutral point as y = p + 1", _point(_P + 1), _FORGED_ZERO),
        ("non-canonical key: the neutral point with x sign set", _point(1, 1), _FORGED_ZERO),
        ("small-order R (the neutral point) by the real key", PUB, _sig_with_r(_IDENTITY, PRIV, PUB, MESSAGE)),
        ("non-canonical R (the neutral point as y = p + 1)", PUB, _sig_with_r(_point(_P + 1), PRIV, PUB, MESSAGE)),
    ],
)
def test_small_order_and_non_canonical_points_are_rejected(name: str, pub: bytes, sig: str) -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify_signature(pub, MESSAGE, sig)


def test_non_canonical_s_is_rejected() -> None:
    raw = base64.b64decode(signing.Signer(PRIV).sign(MESSAGE))
    s = int.from_bytes(raw[32:], "little")
    assert s + _L < 2**256
    high_s = base64.b64encode(raw[:32] + (s + _L).to_bytes(32, "little")).decode()
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify_signature(PUB, MESSAGE, high_s)


def test_the_edge_cases_are_where_openssl_differs() -> None:
    """The vectors above are real differences: OpenSSL accepts the small-order ones (so the rule is
    libsodium's, written in the module doc, not whatever library happens to be called)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    def openssl(pub: bytes, sig: str) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(sig), MESSAGE)
        except InvalidSignature:
            return False
        return True

    assert openssl(_IDENTITY, _FORGED_ZERO)
    assert openssl(_point(_P + 1), _FORGED_ZERO)
    assert openssl(PUB, _sig_with_r(_IDENTITY, PRIV, PUB, MESSAGE))
    assert not openssl(PUB, _sig_with_r(_point(_P + 1), PRIV, PUB, MESSAGE))


RFC8032_VECTORS = [  # RFC 8032 §7.1 tests 1, 2, 3 and SHA(abc): (public key, message, signature)
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("pub", "msg", "sig"), RFC8032_VECTORS)
def test_rfc8032_vectors_verify(pub: str, msg: str, sig: str) -> None:
    raw = bytes.fromhex(sig)
    signing.verify_signature(bytes.fromhex(pub), bytes.fromhex(msg), base64.b64encode(raw).decode())
    with pytest.raises(SignatureError, match="does not verify"):
        signing.verify_signature(bytes.fromhex(pub), bytes.fromhex(msg) + b"x", base64.b64encode(raw).decode())


def test_one_verifier() -> None:
    """No module but ledger.core.signing verifies Ed25519 itself (so every path has the one rule)."""
    from pathlib import Path

    root = Path(signing.__file__).resolve().parents[1]
    others = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if p.name != "signing.py" and any(w in p.read_text() for w in ("Ed25519PublicKey", "nacl", "crypto_sign"))
    ]
    assert others == []
