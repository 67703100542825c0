"""Photos stored by content: the name is the hex SHA-256 of the bytes (issue 14).

An event signs the hashes of its photos (``ocop:documents`` items of type ``photo``), so a photo
whose stored bytes were swapped no longer matches its name and is reported as ``tampered``. Only
JPEG, PNG and WebP are kept, at most ``MAX_PHOTO_BYTES`` each.

Where the bytes live is a small backend (``PhotoBackend``): ``FileBackend`` keeps them under
``<data dir>/photos/ab/abcdef…`` (two-character fan-out); ``S3Backend`` in an S3-compatible bucket
(AWS S3, MinIO, Cloudflare R2, Garage…) under ``<prefix>ab/abcdef…``, through nothing but the S3
HTTP API with SigV4. ``PhotoStore`` does the checking and hashing the same way over either, so the
hash is checked on every read whatever the backend: the bucket is trusted with nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from ledger.errors import ConfigError, InputError, NotFound, Unavailable, VerificationError
from ledger.settings import Settings

MAX_PHOTO_BYTES = 4 * 1024 * 1024
_HEX = re.compile(r"^[0-9a-f]{64}$")
PhotoState = Literal["ok", "tampered", "missing", "unavailable"]


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


class PhotoBackend(Protocol):
    """Where photo bytes live, by a checked hex SHA-256; knows nothing of hashing or media types."""

    def read(self, sha256: str) -> bytes | None:
        """The stored bytes, or None when nothing is stored under the hash; ``Unavailable`` if unreachable."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def write(self, sha256: str, data: bytes, media_type: str) -> None:
        """Store the bytes whole or not at all; ``Unavailable`` if the store cannot take them."""
        ...


class FileBackend:
    """Photos as files in one folder, ``ab/abcdef…``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def read(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def write(self, sha256: str, data: bytes, media_type: str) -> None:
        _write(self.path(sha256), data)


class PhotoStore:
    """Content-addressed photos over a backend (a folder, or an S3-compatible bucket).

    ``state`` (what pages show) remembers an unreachable backend for ``pause`` seconds and answers
    ``unavailable`` at once meanwhile, so a page with six photos and a bucket that does not answer
    waits for one timeout, not six. ``get`` and ``put`` always try.
    """

    def __init__(self, backend: PhotoBackend | Path, pause: float = 10.0) -> None:
        self.backend: PhotoBackend = FileBackend(backend) if isinstance(backend, Path) else backend
        self.pause = pause
        self._down_until = 0.0

    def path(self, sha256: str) -> Path:
        """The file of a photo (file backend only; tests swap its bytes to play an intruder)."""
        if not isinstance(self.backend, FileBackend):
            raise ConfigError("photos are not stored in files here")
        return self.backend.path(check_hash(sha256))

    def put(self, data: bytes) -> dict[str, str]:
        """Store a photo; returns ``{"sha256", "mediaType"}``. Storing the same bytes twice is a no-op."""
        kind = self.check(data)
        digest = hashlib.sha256(data).hexdigest()
        if not self.backend.exists(digest):
            self.backend.write(digest, data, kind)
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
        data = self.backend.read(h)
        if data is None:
            raise NotFound(f"no photo {h}")
        found = hashlib.sha256(data).hexdigest()
        if found != h:
            raise PhotoTampered(f"photo {h} was changed: expected SHA-256 {h}, got {found}")
        return data, media_type(data) or "application/octet-stream"

    def state(self, sha256: str) -> PhotoState:
        if time.monotonic() < self._down_until:
            return "unavailable"
        try:
            self.get(sha256)
        except NotFound:
            return "missing"
        except PhotoTampered:
            return "tampered"
        except Unavailable:
            self._down_until = time.monotonic() + self.pause
            return "unavailable"
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


class S3Backend:
    """Photos as objects ``<prefix>ab/abcdef…`` in an S3-compatible bucket, through the S3 HTTP API (SigV4).

    Only GetObject, HeadObject and PutObject are used (with Content-MD5 so the server refuses a
    damaged upload), which AWS S3, MinIO, R2 and Garage all serve. A connection failure, a timeout,
    a missing bucket or refused credentials raise ``Unavailable``: the caller stores nothing else.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", where: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.where = where or f"bucket {bucket!r}"

    @classmethod
    def connect(
        cls,
        endpoint_url: str | None,
        bucket: str,
        *,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        addressing_style: str = "path",
        timeout: float = 5.0,
    ) -> S3Backend:
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
            # Checksums beyond Content-MD5 only when the API requires them: not every S3-compatible server knows them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        return cls(client, bucket, prefix, f"bucket {bucket!r} at {endpoint_url or 'AWS S3'}")

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def read(self, sha256: str) -> bytes | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
            body: bytes = obj["Body"].read()
            return body
        except Exception as exc:
            if _absent(exc):
                return None
            raise self._unavailable("read", exc) from exc

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except Exception as exc:
            if _absent(exc):
                return False
            raise self._unavailable("check", exc) from exc

    def write(self, sha256: str, data: bytes, media_type: str) -> None:
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - integrity of the upload only
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(sha256), Body=data, ContentType=media_type, ContentMD5=md5
            )
        except Exception as exc:
            raise self._unavailable("store", exc) from exc

    def _unavailable(self, what: str, exc: Exception) -> Unavailable:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, BotoCoreError | ClientError):
            raise exc
        detail = _error_code(exc) or type(exc).__name__
        return Unavailable(
            f"the photo store ({self.where}) could not {what} a photo: {detail}; nothing was recorded, retry later"
        )


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        return str(err.get("Code") or "") or None
    return None


def _absent(exc: Exception) -> bool:
    """True for "no such key" (GetObject says NoSuchKey, HeadObject only 404), not for a missing bucket."""
    return _error_code(exc) in {"NoSuchKey", "404", "NotFound"}


def open_photo_store(settings: Settings) -> PhotoStore:
    """The photo store the settings choose: files in ``data_dir/photos`` or an S3-compatible bucket."""
    if settings.photo_store == "files":
        return PhotoStore(settings.data_dir / "photos")
    if not settings.photo_s3_bucket:
        raise ConfigError("LEDGER_PHOTO_STORE=s3 needs LEDGER_PHOTO_S3_BUCKET")
    secret = settings.photo_s3_secret_key
    backend = S3Backend.connect(
        settings.photo_s3_endpoint_url,
        settings.photo_s3_bucket,
        region=settings.photo_s3_region,
        access_key=settings.photo_s3_access_key,
        secret_key=secret.get_secret_value() if secret is not None else None,
        prefix=settings.photo_s3_prefix,
        addressing_style=settings.photo_s3_addressing_style,
        timeout=settings.photo_s3_timeout,
    )
    return PhotoStore(backend)


class PhotoTampered(VerificationError):
    """A stored photo's bytes no longer hash to the name (and the signed hash) it is stored under."""

    code = "photo_tampered"
