"""The body of an upload (`POST /assets`): one file streamed as `multipart/form-data`, and the
content type its name implies."""

import functools
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

__all__ = ["CONTENT_TYPES", "UPLOAD_CHUNK", "UploadSource", "content_type_for"]

UPLOAD_CHUNK = 1024 * 1024  # bytes read from the file and handed to the socket at a time

CONTENT_TYPES = {
    "wav": "audio/wav",
    "aif": "audio/aiff",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "json": "application/json",
    "txt": "text/plain",
}


def content_type_for(filename: str) -> str:
    extension = Path(filename).suffix.lower().lstrip(".")
    return (
        CONTENT_TYPES.get(extension)
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )


@dataclass(frozen=True)
class UploadSource:
    """Where an upload's bytes come from: `open()` gives a new binary stream at byte 0 (called
    once per attempt, closed after it), `size` bytes long (None: a local file's size when it is
    opened)."""

    open: Callable[[], BinaryIO]
    size: int | None = None

    @classmethod
    def from_path(cls, path: Path) -> "UploadSource":
        """A local file, read unbuffered straight into the upload's buffer."""
        return cls(open=functools.partial(Path(path).open, "rb", buffering=0))


class _SourceChanged(Exception):
    """The file being uploaded is shorter than it was when the upload started."""


class _MultipartFile:
    """A `multipart/form-data` body with one file field, streamed from an open file.

    What requests-toolbelt's `MultipartEncoder` produces, without its intermediate buffers:
    the part's headers (rendered by urllib3, which escapes the file name), then the file read
    straight into one reused 1 MiB buffer, then the closing boundary. Memory stays flat, each
    byte is copied once on its way to the socket, and the CPU cost is curl's (bench/
    upload_vs_curl.py). The length is fixed when the body is made (Content-Length); a file that
    shrinks meanwhile raises `_SourceChanged` instead of leaving the server waiting, one that
    grows is sent only up to that length.
    """

    def __init__(
        self,
        fh: BinaryIO,
        *,
        field: str,
        filename: str,
        content_type: str,
        size: int | None = None,
    ) -> None:
        boundary = choose_boundary()
        part = RequestField(name=field, data=b"", filename=filename)
        part.make_multipart(content_type=content_type)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = f"--{boundary}\r\n".encode() + part.render_headers().encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._fh = fh
        self._remaining = os.fstat(fh.fileno()).st_size if size is None else size
        self._buffer = memoryview(bytearray(UPLOAD_CHUNK))
        self.len = len(self._head) + self._remaining + len(self._tail)

    def __len__(self) -> int:
        return self.len

    def read(self, size: int = -1) -> bytes | memoryview:
        """The next piece (urllib3 sends each before asking for the next, so the buffer can
        be reused); b"" at the end."""
        if self._head:
            head, self._head = self._head, b""
            return head
        if self._remaining:
            got = self._fh.readinto(self._buffer[: min(self._remaining, len(self._buffer))])
            if not got:
                raise _SourceChanged
            self._remaining -= got
            return self._buffer[:got]
        tail, self._tail = self._tail, b""
        return tail

    def __iter__(self) -> Iterator[bytes | memoryview]:
        while piece := self.read():
            yield piece
