"""`POST /assets` (a file, multipart) and `POST /assets/url` (a public HTTPS URL): the web
upload's forms and services (`jobs.forms.assets`, `jobs.services.assets`), with the same
streamed, hashed and size-limited upload handler."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja import Router, Schema, Status

import audit
from api.common import ApiError, form_errors, require_spender
from jobs.audiofile import AudioRejected
from jobs.forms.assets import AssetUploadForm, AssetUrlForm
from jobs.models import Asset
from jobs.services import assets as services
from jobs.upload_handlers import HashingUploadHandler, size_limit_message

router = Router(tags=["assets"])


class AssetOut(Schema):
    id: int
    name: str
    project_id: int
    format: str
    duration_seconds: float | None
    size_bytes: int
    source_url: str
    remote_status: str
    created_at: datetime
    created: bool  # False: the same content or URL was in the library already


class UrlIn(Schema):
    url: str
    project: int
    name: str = ""
    rights: bool = False  # confirms the team has the rights to process this audio


def _out(asset: Asset, *, created: bool) -> dict:
    fields = [f for f in AssetOut.model_fields if f != "created"]
    return {**{f: getattr(asset, f) for f in fields}, "created": created}


UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "project", "rights"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "project": {"type": "integer", "description": "The project's id"},
                        "rights": {
                            "type": "boolean",
                            "description": "true: the team has the rights to this audio",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/assets",
    response={200: AssetOut, 201: AssetOut},
    openapi_extra=UPLOAD_SCHEMA,
    summary="Upload an asset",
)
def asset_upload(request: HttpRequest) -> Status:
    """Upload one audio or video file (field `file`) into a project (`project`, its id),
    confirming the rights (`rights=true`). 201 with the new asset; 200 with the library's
    copy when the same content is there already. The poller forwards it to AudioShake."""
    require_spender(request)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.UPLOAD_MAX_BYTES + 1024 * 1024:
        raise ApiError(413, size_limit_message(settings.UPLOAD_MAX_BYTES))
    request.upload_handlers = [HashingUploadHandler(request)]
    files = request.FILES.getlist("file")  # the body is read here, through the handler
    refusals = getattr(request, "upload_refusals", [])
    if refusals:
        raise ApiError(413, refusals[0].message)
    if len(files) != 1:
        raise ApiError(400, "Send exactly one file, in the multipart field “file”.")
    form = AssetUploadForm(request.POST, MultiValueDict({"files": files}))
    if not form.is_valid():
        files[0].close()
        raise ApiError(400, "The upload is not valid: see errors.", form_errors(form))
    try:
        outcome = services.asset_create_from_upload(
            upload=files[0], project=form.cleaned_data["project"], user=request.user
        )
    except AudioRejected as exc:
        raise ApiError(400, exc.message) from None
    audit.record(
        request,
        audit.Action.ASSET_UPLOADED,
        outcome.asset,
        created=outcome.created,
        restored=outcome.restored,
    )
    return Status(201 if outcome.created else 200, _out(outcome.asset, created=outcome.created))


@router.post("/assets/url", response={200: AssetOut, 201: AssetOut}, summary="Register a URL")
def asset_register_url(request: HttpRequest, body: UrlIn) -> Status:
    """Register a public HTTPS URL as a source (AudioShake fetches it at each task). 201 with
    the new asset; 200 with the library's asset when the URL is registered already."""
    require_spender(request)
    form = AssetUrlForm(
        {
            "url-url": body.url,
            "url-project": str(body.project),
            "url-name": body.name,
            **({"url-rights": "on"} if body.rights else {}),
        }
    )
    if not form.is_valid():
        raise ApiError(400, "The URL is not valid: see errors.", form_errors(form))
    try:
        asset, created = services.asset_register_url(
            url=form.cleaned_data["url"],
            project=form.cleaned_data["project"],
            user=request.user,
            name=form.cleaned_data["name"],
        )
    except ValidationError as exc:
        raise ApiError(400, " ".join(exc.messages)) from None
    audit.record(request, audit.Action.ASSET_URL_REGISTERED, asset, created=created)
    return Status(201 if created else 200, _out(asset, created=created))
