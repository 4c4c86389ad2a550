"""File responses that honour HTTP Range requests (RFC 9110 §14), so an `<audio>` element can
seek in a long file: Django's FileResponse always sends the whole file.

One byte range per request (what browsers send for media); multi-range requests get the whole
file, which the RFC allows. An `If-Range` that does not match the ETag gets the whole file too.
"""

import re
from collections.abc import Iterator
from typing import BinaryIO

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _iter_range(fileobj: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        fileobj.seek(start)
        while length > 0:
            chunk = fileobj.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        fileobj.close()


# Byte positions past any real file: a longer number is read as this (Python refuses to
# convert more than 4,300 digits, and a 5,000-digit Range must not be a 500).
_HUGE = 10**18


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) byte of a single satisfiable range; None when the header is absent,
    malformed or multi-range (serve everything); False when it cannot be satisfied (416)."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:  # suffix range: the last N bytes
        suffix = _position(match[2])
        if suffix == 0:
            return False
        return max(size - suffix, 0), size - 1
    first = _position(match[1])
    last = _position(match[2]) if match[2] else size - 1
    if match[2] and last < first:
        return None
    if first >= size:
        return False
    return first, min(last, size - 1)


def ranged_file_response(
    request: HttpRequest,
    fileobj: BinaryIO,
    *,
    size: int,
    content_type: str,
    filename: str,
    as_attachment: bool = False,
    etag: str = "",
) -> HttpResponse:
    """The whole file (200) or the requested byte range (206), with Accept-Ranges, the ETag
    and a sanitised Content-Disposition."""
    quoted_etag = f'"{etag}"' if etag else ""
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range", "")
    wanted = parse_range(header, size) if header else None
    if wanted is not None and if_range and if_range != quoted_etag:
        wanted = None
    if wanted is False:
        fileobj.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = FileResponse(
            fileobj, as_attachment=as_attachment, filename=filename, content_type=content_type
        )
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = StreamingHttpResponse(
            _iter_range(fileobj, first, last - first + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    response["Accept-Ranges"] = "bytes"
    if quoted_etag:
        response["ETag"] = quoted_etag
    # Only logged-in people get files: no cache may keep a copy after log-out (seeking still
    # works: the browser asks for the byte ranges again).
    response["Cache-Control"] = "private, no-store"
    return response


def private_redirect(url: str) -> HttpResponse:
    """A 302 to a presigned link (a file in a bucket), which neither the browser nor a proxy may
    keep: the link is the permission, given after the login check, and expires on its own."""
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"
    return response
