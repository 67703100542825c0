"""Content-addressed photos: stored under their SHA-256, a swapped file is reported as tampered."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ledger.errors import InputError, NotFound
from ledger.store.photos import MAX_PHOTO_BYTES, PhotoStore, PhotoTampered

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_put_names_the_file_by_its_hash_and_reads_it_back(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    info = store.put(JPEG)
    digest = hashlib.sha256(JPEG).hexdigest()
    assert info == {"sha256": digest, "mediaType": "image/jpeg"}
    assert (tmp_path / digest[:2] / digest).read_bytes() == JPEG
    assert store.get(digest.upper()) == (JPEG, "image/jpeg")
    assert store.put(JPEG) == info  # the same bytes again: nothing new
    assert store.put(PNG)["mediaType"] == "image/png"
    assert store.state(digest) == "ok"


def test_a_swapped_photo_is_tampered(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    digest = store.put(JPEG)["sha256"]
    store.path(digest).write_bytes(JPEG + b"edited")
    with pytest.raises(PhotoTampered, match=f"expected SHA-256 {digest}, got"):
        store.get(digest)
    assert store.state(digest) == "tampered"
    assert store.state("0" * 64) == "missing"
    with pytest.raises(NotFound, match="no photo"):
        store.get("0" * 64)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the photo is empty"),
        (b"GIF89a" + b"\x00" * 10, "expected a JPEG, PNG or WebP photo"),
        (b"<svg onload=alert(1)>", "expected a JPEG, PNG or WebP photo"),
        (b"\xff\xd8\xff" + b"\x00" * MAX_PHOTO_BYTES, "at most 4 MB"),
    ],
)
def test_bad_photos_are_refused_and_nothing_is_written(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        PhotoStore(tmp_path).put(data)
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "g" * 64, "0" * 65])
def test_bad_hashes_are_input_errors(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError, match="expected a photo hash of 64 hex digits"):
        PhotoStore(tmp_path).get(bad)
