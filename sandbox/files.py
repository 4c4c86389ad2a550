"""Serving signed file links: `/sandbox/files/<token>/<name>.<ext>` (assets and outputs).

Public: the signed, expiring token is the credential (like a CDN's signed URL). Streamed with
FileResponse, so a large file never sits in memory. Injected faults apply here too, under the
pattern "GET /files/{token}".
"""

import mimetypes

from django.http import FileResponse, HttpRequest, HttpResponse

from sandbox.api import api_endpoint
from sandbox.errors import ApiError
from sandbox.links import ASSET, LinkExpired, LinkInvalid, link_verify
from sandbox.models import SandboxAsset, SandboxOutput

TYPES = {
    "wav": "audio/wav",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "json": "application/json",
    "srt": "application/x-subrip",
    "txt": "text/plain; charset=utf-8",
}


@api_endpoint("/files/{token}", methods=("GET", "HEAD"), auth=False)
def file_download(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    try:
        ref = link_verify(token)
    except LinkExpired:
        raise ApiError(
            403, "This link has expired: fetch the task again for a fresh link"
        ) from None
    except LinkInvalid:
        raise ApiError(403, "Invalid link signature") from None
    if ref.kind == ASSET:
        asset = SandboxAsset.objects.live().filter(pk=ref.object_id).first()
        found = (asset.file_path, asset.name, asset.format) if asset else None
    else:
        output = SandboxOutput.objects.filter(pk=ref.object_id).first()
        found = (output.file_path, output.filename, output.format) if output else None
    if found is None or found[1] != filename or not found[0].is_file():
        raise ApiError(404, "File not found")
    path, name, fmt = found
    content_type = TYPES.get(fmt) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path.open("rb"), content_type=content_type, filename=name)
