"""Where files live, and what the rest of the code asks of a storage that Django's API does not
answer well for a bucket.

Uploads (`Asset.file`) are in the default storage and mirrored outputs in `STORAGES["outputs"]`:
folders under MEDIA_ROOT by default, S3 buckets when UPLOADS_STORAGE / OUTPUTS_STORAGE say so
(shakeweb/storage_url.py). `outputs` is resolved on first use and again whenever the STORAGES
setting changes (tests point it at a temporary folder or a bucket).

For a bucket, `storage.open()` copies the whole object before the first read (django-storages'
S3File), so a 16-byte read costs the whole file. Instead:

- `signed_url`: a short-lived presigned link the browser is redirected to (S3 answers its byte
  ranges itself); None for a local folder, which the views serve with `jobs.ranged`.
- `open_stream`: the object's bytes from the start, as they arrive (the GET's body).
- `open_writer`: write a new file as the bytes come, never a local copy first (S3: a multipart
  upload in 8 MiB parts held in memory; a folder: `<name>.part`, renamed when complete).
"""

import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from django.utils.http import content_disposition_header

try:
    from botocore.exceptions import ClientError
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name
except ImportError:  # the `s3` extra is not installed: only local folders
    S3Storage = None

PART_BYTES = 8 * 1024 * 1024  # S3 multipart parts (S3's minimum is 5 MiB, except the last)


class OutputsStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages["outputs"]


outputs = OutputsStorage()


@receiver(setting_changed)
def _forget_outputs_storage(*, setting: str, **kwargs: Any) -> None:
    if setting in ("STORAGES", "MEDIA_ROOT"):
        outputs._wrapped = empty


def is_bucket(storage: Storage) -> bool:
    """Whether `storage` is an S3 bucket (files reached by presigned links, not served here)."""
    return S3Storage is not None and isinstance(storage, S3Storage)


def _key(storage: Any, name: str) -> str:
    return storage._normalize_name(clean_name(name))


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in ("404", "NoSuchKey", "NotFound")


# Reading ------------------------------------------------------------------------------------


def signed_url(
    storage: Storage, name: str, *, filename: str, content_type: str, as_attachment: bool
) -> str | None:
    """A presigned GET link to `name` that works for STORAGE_LINK_SECONDS, with the download
    name, type and caching the dashboard would have sent; None when the storage is a folder
    served by the dashboard itself."""
    if not is_bucket(storage):
        return None
    parameters = {
        "ResponseContentType": content_type,
        "ResponseContentDisposition": content_disposition_header(as_attachment, filename),
        # Only logged-in people get files: no cache keeps a copy (see jobs.ranged).
        "ResponseCacheControl": "private, no-store",
    }
    return storage.url(name, parameters=parameters, expire=settings.STORAGE_LINK_SECONDS)


def open_stream(storage: Storage, name: str) -> BinaryIO:
    """`name` opened for reading from its first byte, streamed (close it after use);
    FileNotFoundError when it is gone."""
    if not is_bucket(storage):
        return storage.open(name, "rb")
    try:
        answer = storage.connection.meta.client.get_object(
            Bucket=storage.bucket_name, Key=_key(storage, name)
        )
    except ClientError as exc:
        if _missing(exc):
            raise FileNotFoundError(f"{name} is not in the bucket") from None
        raise
    return answer["Body"]  # botocore's StreamingBody: read, readinto, close


# Writing ------------------------------------------------------------------------------------


class Writer(Protocol):
    """A file being written: `write` the bytes in order, then `commit` (returns the stored
    name) or `abort` (nothing is left behind)."""

    name: str
    written: int

    def write(self, data: bytes) -> int: ...
    def commit(self) -> str: ...
    def abort(self) -> None: ...


def open_writer(storage: Storage, name: str) -> Writer:
    """A `Writer` for a new file called `name` (or a free variant of it) in `storage`."""
    if is_bucket(storage):
        return _BucketWriter(storage, name)
    if isinstance(storage, FileSystemStorage):
        return _FolderWriter(storage, name)
    return _SpooledWriter(storage, name)


class _FolderWriter:
    """Straight into the storage's folder as `<name>.part`, renamed into place when complete."""

    def __init__(self, storage: FileSystemStorage, name: str) -> None:
        self._storage = storage
        self.name = storage.get_available_name(name)
        self._path = Path(storage.path(self.name))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._part = self._path.with_name(self._path.name + ".part")
        self._fh = self._part.open("wb")
        self.written = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self.written += len(data)
        return len(data)

    def commit(self) -> str:
        self._fh.close()
        if self._storage.file_permissions_mode is not None:
            os.chmod(self._part, self._storage.file_permissions_mode)
        os.replace(self._part, self._path)
        return self.name

    def abort(self) -> None:
        self._fh.close()
        self._part.unlink(missing_ok=True)


class _BucketWriter:
    """An S3 multipart upload fed as the bytes come: at most one part (8 MiB) in memory. A file
    smaller than a part is one PUT; an aborted upload leaves no parts behind."""

    def __init__(self, storage: Any, name: str) -> None:
        self.name = storage.get_available_name(name)
        self._client = storage.connection.meta.client
        self._where = {"Bucket": storage.bucket_name, "Key": _key(storage, self.name)}
        self._type = mimetypes.guess_type(self.name)[0] or "application/octet-stream"
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self.written += len(data)
        while len(self._buffer) >= PART_BYTES:
            self._send_part(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]
        return len(data)

    def _send_part(self, body: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(**self._where, ContentType=self._type)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        sent = self._client.upload_part(
            **self._where, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def commit(self) -> str:
        if self._upload_id is None:
            self._client.put_object(**self._where, Body=bytes(self._buffer), ContentType=self._type)
        else:
            if self._buffer:
                self._send_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                **self._where, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._buffer = bytearray()
        return self.name

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(**self._where, UploadId=self._upload_id)
            self._upload_id = None


class _SpooledWriter:
    """Any other Django storage: spooled (in memory up to a part, then a temporary file) and
    saved when complete, since Django's storage API only saves whole files."""

    def __init__(self, storage: Storage, name: str) -> None:
        self._storage = storage
        self.name = name
        # Closed by commit() or abort(), which the caller always reaches.
        self._tmp = tempfile.SpooledTemporaryFile(PART_BYTES, dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115
        self.written = 0

    def write(self, data: bytes) -> int:
        self._tmp.write(data)
        self.written += len(data)
        return len(data)

    def commit(self) -> str:
        self._tmp.seek(0)
        self.name = self._storage.save(self.name, File(self._tmp, name=self.name))
        self._tmp.close()
        return self.name

    def abort(self) -> None:
        self._tmp.close()
