"""A streaming upload handler for audio: every file goes to a temporary file on disk (never
memory), its SHA-256 is computed while the bytes arrive, and the size limit is enforced chunk by
chunk, so an oversized file is dropped the moment it crosses `settings.UPLOAD_MAX_BYTES`,
before the rest of it is stored anywhere.

Install it per view, before anything reads `request.POST` (so the view is `csrf_exempt` on the
outside and `csrf_protect` on the inside, as Django's docs show for custom handlers):

    request.upload_handlers = [HashingUploadHandler(request)]

Refused files are listed in `request.upload_refusals` (name, message) for the view to report.
"""

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat


@dataclass(frozen=True)
class UploadRefusal:
    file_name: str
    message: str


class HashedUploadedFile(TemporaryUploadedFile):
    """A temporary uploaded file with a fixed suffix (a hostile 300-character extension must
    not reach the file system) and the SHA-256 of its content."""

    def __init__(
        self, name: str, content_type: str, charset: str | None, extra: dict | None
    ) -> None:
        # Closed (and so deleted) by the request when the response is done, or when moved.
        file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR
        )
        UploadedFile.__init__(self, file, name, content_type, 0, charset, extra)
        self.sha256 = ""


def size_limit_message(limit: int) -> str:
    return f"The file is larger than the {filesizeformat(limit)} upload limit."


class HashingUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024  # 1 MiB: hashing and writing in larger chunks is cheaper

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
        self.refusals: list[UploadRefusal] = []
        if request is not None:
            request.upload_refusals = self.refusals  # type: ignore[attr-defined]

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        # Forget the previous file (already handed to the parser), so that a refusal of this
        # one never closes (and deletes) it.
        self.__dict__.pop("file", None)
        self.received = 0
        self.hasher = hashlib.sha256()
        if self.content_length is not None and self.content_length > self.max_bytes:
            self._refuse(size_limit_message(self.max_bytes))  # before a single byte is stored
        self.file = HashedUploadedFile(
            self.file_name, self.content_type, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self._discard()
            self._refuse(size_limit_message(self.max_bytes))
        self.hasher.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self.hasher.hexdigest()
        return self.file

    def upload_interrupted(self) -> None:
        """The client went away mid-file: remove the partial temporary file."""
        self._discard()

    def _refuse(self, message: str) -> None:
        """Record why and skip the rest of this file (the parser reads and drops it without
        storing it, then carries on with the request's other files)."""
        self.refusals.append(UploadRefusal(self.file_name or "", message))
        raise SkipFile(message)

    def _discard(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()  # a NamedTemporaryFile: closing it deletes it
