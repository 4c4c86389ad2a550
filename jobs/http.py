"""HTTP helpers shared by the download views: byte-range responses (so `<audio>` can seek)
and safe download names."""

import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def safe_filename(name: str, *, fallback: str = "download") -> str:
    """A download name without path separators, control or bidi characters, at most 150 chars."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '/\\:*?"<>|')
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 150 - len(ext) - 1]}.{ext}" if dot and len(ext) <= 8 else name[:150]
    return name or fallback


def _iter_range(f: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


def ranged_file_response(
    request: HttpRequest,
    f: BinaryIO,
    *,
    size: int,
    content_type: str,
    filename: str,
    as_attachment: bool = False,
) -> HttpResponse:
    """Serve `f` (an open binary file of `size` bytes) honouring a single `Range: bytes=a-b`
    request, as browsers send for seeking in `<audio>`; a full FileResponse otherwise."""
    match = RANGE_RE.match(request.headers.get("Range", "").strip())
    if not match or (not match[1] and not match[2]) or size == 0:
        response = FileResponse(
            f, content_type=content_type, as_attachment=as_attachment, filename=filename
        )
        response["Accept-Ranges"] = "bytes"
        return response
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # suffix range: the last N bytes
        start, end = max(size - int(match[2]), 0), size - 1
    if start >= size or start > end:
        f.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    response = StreamingHttpResponse(
        _iter_range(f, start, length), status=206, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    return response
