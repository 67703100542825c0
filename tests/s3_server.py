"""A real S3-protocol server for the photo-store tests: moto's standalone server on 127.0.0.1.

The product code talks to it only through the S3 HTTP API (SigV4), exactly as to MinIO or AWS;
the tests use a separate boto3 client as the "intruder" who swaps objects in the bucket.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY, SECRET_KEY, REGION = "ocop-test-key", "ocop-test-secret", "ap-southeast-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    server: Any
    port: int
    _client: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """The intruder's own client (not the product's), made once."""
        import boto3

        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
            )
        return self._client

    def new_bucket(self) -> str:
        name = f"photos-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        """Start (again) on the same port; moto keeps its buckets in the process, so they survive."""
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()


@pytest.fixture
def s3() -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="moto[s3] (a dev dependency) provides the local S3 server")
    server = S3Server(None, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def s3_settings(s3: S3Server, bucket: str, **kw: Any) -> dict[str, Any]:
    """The ``Settings`` fields that put photos in ``bucket`` of the test server."""
    return {
        "photo_store": "s3",
        "photo_s3_endpoint_url": s3.url,
        "photo_s3_bucket": bucket,
        "photo_s3_region": REGION,
        "photo_s3_access_key": ACCESS_KEY,
        "photo_s3_secret_key": SECRET_KEY,
        "photo_s3_timeout": 2.0,
        **kw,
    }
