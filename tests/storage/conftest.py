"""A real S3-compatible server for the storage tests: moto's server mode in a subprocess on
127.0.0.1, behind a byte-counting TCP forwarder (what S3 sent back is measured on the wire),
one fresh bucket per test, and the dashboard's storages pointed at it."""

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from shakeweb.storage_url import storage_config
from tests.poller.conftest import Proxy, pollers, sandbox  # noqa: F401  (the poller tests' fixtures)

HERE = Path(__file__).resolve().parent
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "shakeweb-tests",
    "AWS_SECRET_ACCESS_KEY": "shakeweb-tests-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class CountingProxy(Proxy):
    """`Proxy` that counts the bytes the server sends back (headers and bodies)."""

    def __init__(self, target: str) -> None:
        self.served = 0
        self._count = threading.Lock()
        super().__init__(target)

    def answered(self, size: int) -> None:
        with self._count:
            self.served += size


class S3Server:
    """moto's S3 server in a subprocess; `endpoint` is the counting forwarder in front."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "s3_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.proc.kill()
            raise RuntimeError(f"moto's S3 server did not start (it said {port!r})")
        self.proxy = CountingProxy(f"http://127.0.0.1:{port}")
        self.endpoint = self.proxy.url()

    def stop(self) -> None:
        self.proxy.down()
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


class Bucket:
    """A fresh bucket on the test server."""

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.name = f"shakeweb-{uuid.uuid4().hex[:12]}"
        self.client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        self.client.create_bucket(Bucket=self.name)

    def url(self, prefix: str) -> str:
        return f"s3://{self.name}/{prefix}?endpoint_url={self.server.endpoint}"

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def pending_uploads(self) -> list[str]:
        listed = self.client.list_multipart_uploads(Bucket=self.name)
        return [upload["Key"] for upload in listed.get("Uploads", [])]

    @property
    def served(self) -> int:
        """Bytes the S3 server has sent so far (to anyone)."""
        return self.server.proxy.served


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket; boto3 in this process and in the processes it starts has credentials."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return Bucket(s3_server)


@pytest.fixture
def s3_storages(bucket: Bucket, settings: Any, tmp_path: Path) -> Bucket:
    """Uploads under `uploads/` and outputs under `outputs/` of the bucket, as
    UPLOADS_STORAGE / OUTPUTS_STORAGE would configure them."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": storage_config(bucket.url("uploads"), local=None, setting="UPLOADS_STORAGE"),
        "outputs": storage_config(bucket.url("outputs"), local=None, setting="OUTPUTS_STORAGE"),
    }
    return bucket
