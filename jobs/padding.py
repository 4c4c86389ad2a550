"""Leading zero-byte padding: some MP3 encoders and copy tools leave zeros before the first
frame. AudioShake accepts such an upload, then fails its task ("Error fetching or processing
asset", contract section 4), so the dashboard's upload strips the padding (`leading_padding`,
`copy_without_padding`) and says so on the asset.
"""

import io
from pathlib import Path
from typing import BinaryIO

from jobs.audiofile import AudioRejected, sniff

MAX_PADDING_SCAN = 1024 * 1024  # zeros beyond this are not padding worth rescuing


class _Shifted(io.RawIOBase):
    """A read-only view of `fileobj` starting `offset` bytes in (for sniff())."""

    def __init__(self, fileobj: BinaryIO, offset: int) -> None:
        self._f, self._offset = fileobj, offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            return self._f.seek(self._offset + pos) - self._offset
        return self._f.seek(pos, whence) - self._offset

    def tell(self) -> int:
        return self._f.tell() - self._offset

    def read(self, size: int = -1) -> bytes:
        return self._f.read(size)


def leading_padding(fileobj: BinaryIO) -> int:
    """How many zero bytes precede a recognised audio or video file (0 when the file does not
    start with zeros, or nothing we recognise follows them). Some MP3 encoders and copy tools
    leave such padding; AudioShake accepts the upload but then fails the task."""
    fileobj.seek(0)
    zeros = 0
    while zeros < MAX_PADDING_SCAN:
        chunk = fileobj.read(64 * 1024)
        run = len(chunk) - len(chunk.lstrip(b"\x00"))
        zeros += run
        if run < len(chunk) or not chunk:
            break
    if not zeros or zeros >= MAX_PADDING_SCAN:
        return 0
    # An MP4-family file starts with its first box's size, whose high bytes are often zero:
    # the file may start up to three bytes before the first non-zero byte.
    for offset in range(zeros, max(zeros - 4, -1), -1):
        try:
            sniff(_Shifted(fileobj, offset))  # type: ignore[arg-type]
        except AudioRejected:
            continue
        return offset
    return 0


def copy_without_padding(source: Path, target: Path, padding: int) -> int:
    """Write `source` minus its first `padding` bytes to `target`; returns the bytes written."""
    written = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        src.seek(padding)
        while chunk := src.read(1024 * 1024):
            dst.write(chunk)
            written += len(chunk)
    return written
