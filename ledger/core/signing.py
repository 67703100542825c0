"""Ed25519 signing, key ids and encryption of private keys at rest.

CONSENSUS-CRITICAL for ``key_id`` and ``sign``/``verify_signature``: the key id format and the
signed bytes are part of every entry. Pure: bytes in, bytes out; the master key is passed in.

The verification rule (one verifier, ``verify_signature``, for ingest, ``/verify``, the bundle
verifier and the audit, so they accept and reject exactly the same signatures): RFC 8032 §5.1.7
Ed25519, cofactorless ([S]B = R + [k]A, compared on R's encoding), and strict about encodings:

- S must be canonical (S < L);
- the public key A must be a canonical encoding (y < p, no "negative zero" x) of a point that is
  not of small order;
- R must not be of small order (a non-canonical R never equals the recomputed encoding).

This is libsodium's ``crypto_sign_verify_detached`` (via PyNaCl, pinned), about twice as fast as
OpenSSL's Ed25519 here; OpenSSL would accept small-order or non-canonical public keys, whose
"signatures" anyone can forge. Signing stays with ``cryptography`` (RFC 8032 signatures are
deterministic: both libraries give the same bytes). ``tests/core/test_signing.py`` holds the
edge-case vectors.

Private keys are sealed with AES-256-GCM under a key derived from the master key (HKDF-SHA256),
with the key id as associated data so a sealed key cannot be moved to another key's row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl import bindings as _sodium
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from ledger.errors import ConfigError, InputError, SignatureError

KEY_ID_PREFIX = "ed25519:"
MASTER_KEY_SIZE = 32
_SEAL_VERSION = b"\x01"
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw


def key_id(public_key: bytes) -> str:
    """``ed25519:`` + hex SHA-256 of the raw 32-byte public key."""
    if len(public_key) != 32:
        raise InputError(f"Ed25519 public key has wrong length: expected 32, got {len(public_key)}")
    return KEY_ID_PREFIX + hashlib.sha256(public_key).hexdigest()


def generate_private_key() -> bytes:
    """A new raw 32-byte Ed25519 private key (seed)."""
    return Ed25519PrivateKey.generate().private_bytes(_RAW, _RAW_PRIV, serialization.NoEncryption())


def public_key(private_key: bytes) -> bytes:
    """The raw public key of a raw private key."""
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes(_RAW, _RAW_PUB)


class Signer:
    """An Ed25519 private key loaded once, for signing many statements.

    Signs with libsodium (PyNaCl), about twice as fast here as OpenSSL. Ed25519 signatures are
    deterministic (RFC 8032 section 5.1.6), so both give the same bytes for the same key and
    message; ``tests/core/test_signing.py`` checks that on RFC 8032's vectors and random keys.
    """

    __slots__ = ("_sk", "key_id", "public_key")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise InputError(f"Ed25519 private key has wrong length: expected 32, got {len(private_key)}")
        self.public_key, self._sk = _sodium.crypto_sign_seed_keypair(private_key)
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        """Base64 signature of ``message``."""
        return base64.b64encode(self.sign_raw(message)).decode("ascii")

    def sign_raw(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message``."""
        return _sodium.crypto_sign(message, self._sk)[:64]

    def __repr__(self) -> str:  # never show key material
        return f"Signer({self.key_id})"


def decode_b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what} is not valid base64: {exc}") from exc


def load_public_key(public_key: bytes) -> Ed25519PublicKey:
    if len(public_key) != 32:
        raise InputError(f"Ed25519 public key has wrong length: expected 32, got {len(public_key)}")
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify_signature(public_key: bytes | Ed25519PublicKey, message: bytes, sig_b64: str) -> None:
    """Raise ``SignatureError`` unless ``sig_b64`` is a valid signature of ``message`` (the rule in the module doc)."""
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"signature is not valid base64: {exc}") from exc
    if len(sig) != 64:
        raise SignatureError(f"signature has wrong length: expected 64 bytes, got {len(sig)}")
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes(_RAW, _RAW_PUB)
    if len(raw) != 32:
        raise InputError(f"Ed25519 public key has wrong length: expected 32, got {len(raw)}")
    try:
        crypto_sign_open(sig + message, raw)  # the rule in the module doc
    except BadSignatureError as exc:
        raise SignatureError("signature does not verify against the signer's public key") from exc


# --- private keys at rest -----------------------------------------------------------------


def _derive(master_key: bytes, purpose: bytes) -> bytes:
    if len(master_key) != MASTER_KEY_SIZE:
        raise ConfigError(f"master key has wrong length: expected {MASTER_KEY_SIZE} bytes, got {len(master_key)}")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master_key)


def master_key_fingerprint(master_key: bytes) -> str:
    """A public check value of the master key, stored to detect a wrong key at start."""
    return hmac.new(_derive(master_key, b"ocop-ledger fingerprint"), b"check", "sha256").hexdigest()[:32]


def seal_private_key(master_key: bytes, private_key: bytes, kid: str) -> bytes:
    """Encrypt a raw private key under the master key, bound to its key id."""
    nonce = os.urandom(12)
    aead = AESGCM(_derive(master_key, b"ocop-ledger private keys"))
    return _SEAL_VERSION + nonce + aead.encrypt(nonce, private_key, kid.encode())


def open_private_key(master_key: bytes, sealed: bytes, kid: str) -> bytes:
    """Decrypt a sealed private key; ``ConfigError`` if the master key is wrong."""
    if sealed[:1] != _SEAL_VERSION or len(sealed) < 13:
        raise ConfigError(f"sealed private key of {kid} has an unknown format")
    aead = AESGCM(_derive(master_key, b"ocop-ledger private keys"))
    try:
        return aead.decrypt(sealed[1:13], sealed[13:], kid.encode())
    except InvalidTag as exc:
        raise ConfigError(f"cannot decrypt the private key of {kid}: the master key is wrong for this ledger") from exc
