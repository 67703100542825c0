"""Photos stored by content: the file's name is the hex SHA-256 of its bytes (issue 14).

An event signs the hashes of its photos (``ocop:documents`` items of type ``photo``), so a photo
whose file was swapped no longer matches its name and is reported as ``tampered``. Files live
under ``<data dir>/photos/ab/abcdef…`` (two-character fan-out). Only JPEG, PNG and WebP are kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from ledger.errors import InputError, NotFound, VerificationError

MAX_PHOTO_BYTES = 4 * 1024 * 1024
_HEX = re.compile(r"^[0-9a-f]{64}$")
PhotoState = Literal["ok", "tampered", "missing"]


def media_type(data: bytes) -> str | None:
    """The image type from the file's first bytes (never from a name or a header a client sent)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_hash(sha256: str) -> str:
    value = sha256.lower()
    if not _HEX.match(value):
        raise InputError(f"expected a photo hash of 64 hex digits, got {sha256[:80]!r}", field="sha256")
    return value


class PhotoStore:
    """Content-addressed photo files in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        h = check_hash(sha256)
        return self.root / h[:2] / h

    def put(self, data: bytes) -> dict[str, str]:
        """Store a photo; returns ``{"sha256", "mediaType"}``. Storing the same bytes twice is a no-op."""
        kind = self.check(data)
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            _write(target, data)
        return {"sha256": digest, "mediaType": kind}

    @staticmethod
    def check(data: bytes) -> str:
        """The photo's media type; ``InputError`` for an empty, too large or non-image file."""
        if not data:
            raise InputError("the photo is empty", field="photos")
        if len(data) > MAX_PHOTO_BYTES:
            raise InputError(
                f"a photo may have at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB, got {len(data) / 1048576:.1f} MB",
                field="photos",
            )
        kind = media_type(data)
        if kind is None:
            raise InputError("expected a JPEG, PNG or WebP photo, got another kind of file", field="photos")
        return kind

    def get(self, sha256: str) -> tuple[bytes, str]:
        """The photo's bytes and type; ``NotFound`` if absent, ``PhotoTampered`` if they no longer match."""
        h = check_hash(sha256)
        try:
            data = self.path(h).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no photo {h}") from None
        found = hashlib.sha256(data).hexdigest()
        if found != h:
            raise PhotoTampered(f"photo {h} was changed: expected SHA-256 {h}, got {found}")
        return data, media_type(data) or "application/octet-stream"

    def state(self, sha256: str) -> PhotoState:
        try:
            self.get(sha256)
        except NotFound:
            return "missing"
        except PhotoTampered:
            return "tampered"
        return "ok"


def _write(target: Path, data: bytes) -> None:
    """Write atomically: a reader sees the whole file or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PhotoTampered(VerificationError):
    """A stored photo's bytes no longer hash to the name (and the signed hash) it is stored under."""

    code = "photo_tampered"
