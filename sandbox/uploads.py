"""Streaming `POST /assets` uploads straight to their final folder, and checking what arrived.

`AssetUploadHandler` is a Django upload handler: the multipart parser hands it 64 KiB chunks
which it writes to `MEDIA_ROOT/sandbox/assets/.incoming-*` (the same file system as the final
place, so storing the asset is a rename, never a copy). Memory stays flat whatever the size, and
it stops writing as soon as the file passes the size limit.
"""

import codecs
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

# Input formats (contract section 3): audio, video, and transcripts for alignment.
AUDIO_FORMATS = ("wav", "aiff", "flac", "mp3", "aac", "m4a")
VIDEO_FORMATS = ("mp4", "mov")
TEXT_FORMATS = ("json", "txt")
EXTENSIONS = {
    **{fmt: fmt for fmt in (*AUDIO_FORMATS, *VIDEO_FORMATS, *TEXT_FORMATS)},
    "aif": "aiff",
    "mp4a": "m4a",
}
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    name: str
    size: int
    content_type: str


class AssetUploadHandler(FileUploadHandler):
    """Keeps the first `file` field on disk, skips every other file field."""

    # The parser reads in chunks of the smallest handler chunk_size: 1 MiB rather than Django's
    # 64 KiB default makes a 1 GB upload several times faster for the same flat memory.
    chunk_size = 1024 * 1024

    def __init__(self, request: HttpRequest, *, directory: Path, max_bytes: int) -> None:
        super().__init__(request)
        self.directory = directory
        self.max_bytes = max_bytes
        self.too_large = False
        self.received = 0
        self._fh: Any = None
        self._path: Path | None = None
        self._taken = False

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        if field_name != "file" or self._taken:
            raise SkipFile
        self._taken = True
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        self._fh = os.fdopen(fd, "wb")
        self._path = Path(name)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            self.discard()
            raise SkipFile
        self._fh.write(raw_data)

    def file_complete(self, file_size: int) -> StoredUpload | None:
        if self._fh is None or self._path is None:
            return None
        self._fh.close()
        self._fh = None
        return StoredUpload(self._path, self.file_name or "upload", file_size, self.content_type)

    def upload_interrupted(self) -> None:
        self.discard()

    def discard(self) -> None:
        """Close and delete a partly written file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None


def format_for(filename: str) -> str | None:
    """The input format a file name claims (`aif` -> `aiff`), None when not accepted."""
    _, dot, ext = filename.rpartition(".")
    return EXTENSIONS.get(ext.lower()) if dot else None


def _is_mp4_family(head: bytes) -> bool:
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _is_mpeg_audio(head: bytes) -> bool:
    return head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _is_text(head: bytes, *, complete: bool) -> bool:
    if b"\0" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=complete)  # a character cut at the end of head is fine
    except UnicodeDecodeError:
        return False
    return True


def content_matches(fmt: str, path: Path) -> bool:
    """Does the file's content look like `fmt`? Leading zero bytes are skipped for audio and
    video, because the real API accepts such padded uploads (they fail later, on POST /tasks:
    contract section 4); a file that is nothing but zeros as far as we look is let through for
    the same reason."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        complete = not f.read(1)
    if fmt in TEXT_FORMATS:
        if not _is_text(head, complete=complete):
            return False
        return fmt == "txt" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")
    stripped = head.lstrip(b"\0")
    if not stripped:
        return True
    checks = {
        "wav": lambda h: h[:4] in (b"RIFF", b"RF64") and h[8:12] == b"WAVE",
        "aiff": lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"),
        "flac": lambda h: h[:4] == b"fLaC" or (h[:3] == b"ID3" and b"fLaC" in h),
        "mp3": _is_mpeg_audio,
        "aac": lambda h: h[:4] == b"ADIF" or _is_mpeg_audio(h) or _is_mp4_family(h),
        "m4a": _is_mp4_family,
        "mp4": _is_mp4_family,
        "mov": _is_mp4_family,
    }
    # MP4-family files start with a box size whose high bytes are zero: after padding, the
    # box may start up to three bytes before the first non-zero byte.
    zeros = len(head) - len(stripped)
    return any(checks[fmt](head[n:]) for n in (0, *range(max(zeros - 3, 0), zeros + 1)))


# The padded-file failure (contract section 4): the live API fails `POST /tasks` for files
# that start with about this many zero bytes or more (observed on the live API, issue 14).
PADDING_THRESHOLD = 731


def starts_with_padding(path: Path, *, size: int = PADDING_THRESHOLD) -> bool:
    """True when the file begins with at least `size` zero bytes (the padded-file failure)."""
    with path.open("rb") as f:
        head = f.read(size)
    return len(head) == size and not head.strip(b"\0")
