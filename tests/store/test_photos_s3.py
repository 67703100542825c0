"""Photos in an S3-compatible bucket: a real S3-protocol server on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest

from ledger.errors import ConfigError, NotFound, Unavailable
from ledger.settings import Settings
from ledger.store.photos import PhotoStore, PhotoTampered, S3Backend, open_photo_store
from tests.s3_server import S3Server, free_port, s3, s3_settings

__all__ = ["s3"]  # the fixture

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def store_in(s3: S3Server, bucket: str, tmp_path: Path, **kw: object) -> PhotoStore:
    settings = Settings(data_dir=tmp_path, _env_file=None, **s3_settings(s3, bucket, **kw))  # type: ignore[call-arg]
    return open_photo_store(settings)


def keys(s3: S3Server, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_upload_read_back_and_dedup_by_hash(s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = store_in(s3, bucket, tmp_path, photo_s3_prefix="ocop/photos/")
    digest = hashlib.sha256(JPEG).hexdigest()
    assert store.put(JPEG) == {"sha256": digest, "mediaType": "image/jpeg"}
    assert store.put(JPEG) == {"sha256": digest, "mediaType": "image/jpeg"}  # the same bytes: one object
    assert keys(s3, bucket) == [f"ocop/photos/{digest[:2]}/{digest}"]
    obj = s3.client().get_object(Bucket=bucket, Key=f"ocop/photos/{digest[:2]}/{digest}")
    assert obj["Body"].read() == JPEG and obj["ContentType"] == "image/jpeg"
    assert store.get(digest.upper()) == (JPEG, "image/jpeg")
    assert store.state(digest) == "ok"
    store.put(PNG)
    assert len(keys(s3, bucket)) == 2
    assert not (tmp_path / "photos").exists()  # nothing went to the data folder


def test_a_swapped_object_is_tampered_and_a_missing_one_is_missing(s3: S3Server, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = store_in(s3, bucket, tmp_path)
    digest = store.put(JPEG)["sha256"]
    s3.client().put_object(Bucket=bucket, Key=f"{digest[:2]}/{digest}", Body=JPEG[:-1] + b"\x00")
    with pytest.raises(PhotoTampered, match=f"expected SHA-256 {digest}, got"):
        store.get(digest)
    assert store.state(digest) == "tampered"
    other = hashlib.sha256(PNG).hexdigest()
    with pytest.raises(NotFound, match=f"no photo {other}"):
        store.get(other)
    assert store.state(other) == "missing"


def test_an_unreachable_endpoint_is_unavailable_not_missing(tmp_path: Path) -> None:
    backend = S3Backend.connect(
        f"http://127.0.0.1:{free_port()}", "photos", access_key="k", secret_key="s", timeout=1.0
    )
    store = PhotoStore(backend)
    digest = hashlib.sha256(JPEG).hexdigest()
    with pytest.raises(Unavailable, match="could not check a photo: EndpointConnectionError.*nothing was recorded"):
        store.put(JPEG)
    with pytest.raises(Unavailable, match="could not read a photo"):
        store.get(digest)
    assert store.state(digest) == "unavailable"


def test_a_missing_bucket_is_unavailable(s3: S3Server, tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="NoSuchBucket"):
        store_in(s3, "no-such-bucket", tmp_path).get(hashlib.sha256(JPEG).hexdigest())
    bucket = s3.new_bucket()
    with pytest.raises(Unavailable, match="could not store a photo: NoSuchBucket"):
        store_in(s3, "no-such-bucket", tmp_path).backend.write("ab" * 32, JPEG, "image/jpeg")
    assert keys(s3, bucket) == []


def test_settings_choose_the_backend(tmp_path: Path) -> None:
    files = open_photo_store(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    digest = files.put(JPEG)["sha256"]
    assert (tmp_path / "photos" / digest[:2] / digest).read_bytes() == JPEG
    with pytest.raises(ConfigError, match="LEDGER_PHOTO_S3_BUCKET"):
        open_photo_store(Settings(data_dir=tmp_path, photo_store="s3", _env_file=None))  # type: ignore[call-arg]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEDGER_PHOTO_STORE", "s3")
    monkeypatch.setenv("LEDGER_PHOTO_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("LEDGER_PHOTO_S3_BUCKET", "ocop")
    monkeypatch.setenv("LEDGER_PHOTO_S3_SECRET_KEY", "s3cret")
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert (s.photo_store, s.photo_s3_endpoint_url, s.photo_s3_bucket) == ("s3", "http://127.0.0.1:9000", "ocop")
    assert s.photo_s3_secret_key is not None and "s3cret" not in repr(s)


def test_a_bucket_that_never_answers_times_out_once_per_page_not_once_per_photo() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = PhotoStore(S3Backend.connect(url, "photos", access_key="k", secret_key="s", timeout=0.3), pause=30)
        digests = [hashlib.sha256(bytes([n])).hexdigest() for n in range(6)]
        t0 = time.monotonic()
        assert store.state(digests[0]) == "unavailable"
        first = time.monotonic() - t0
        assert first >= 0.3  # it did wait for the read timeout
        t1 = time.monotonic()
        assert [store.state(d) for d in digests[1:]] == ["unavailable"] * 5
        assert time.monotonic() - t1 < 0.1  # the other photos of the page do not wait again
        with pytest.raises(Unavailable, match="ReadTimeoutError"):
            store.get(digests[1])  # the photo route still asks the bucket
