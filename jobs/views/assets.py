"""The asset screens: the library (`/assets/`), the upload page, URL registration and the asset
page with its player, waveform, rename, move and delete.

Everyone logged in browses, plays and downloads; members upload, register, rename and move;
deleting someone else's asset is for admins. No view calls AudioShake: uploads are forwarded
by the poller from the outbox.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

import audit
from accounts.http import HtmxHttpRequest, varies_with_htmx
from accounts.permissions import member_required
from jobs.audiofile import CONTENT_TYPES, AudioRejected, download_name, sanitise_name
from jobs.forms.assets import (
    AssetFilterForm,
    AssetMoveForm,
    AssetRenameForm,
    AssetUploadForm,
    AssetUrlForm,
)
from jobs.models import Asset
from jobs.ranged import private_redirect, ranged_file_response
from jobs.services import assets as services
from jobs.services.tasks import source_problem
from jobs.storage import signed_url
from jobs.upload_handlers import HashingUploadHandler, UploadRefusal, size_limit_message

PAGE_SIZE = 25
MAX_FILES_PER_REQUEST = 20  # the plain (no-JS) form posts every file in one request


@dataclass(frozen=True)
class UploadResult:
    name: str
    outcome: services.UploadOutcome | None = None
    error: str = ""


# Library ---------------------------------------------------------------------------------


@require_GET
@varies_with_htmx
def asset_list(request: HtmxHttpRequest) -> HttpResponse:
    """The library page; htmx requests from the filter form get only the results."""
    form = AssetFilterForm(request.GET)
    page = Paginator(services.asset_search(**form.filters()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "now": timezone.now()}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "jobs/assets/list.html#results", context)
    return render(request, "jobs/assets/list.html", context)


@require_GET
def asset_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A polled fragment: the library row (or the asset page's status box with ?for=detail).
    Once the status is settled the response stops the polling (286)."""
    asset = _get(pk)
    partial = "detail.html#status" if request.GET.get("for") == "detail" else "list.html#row"
    response = render(request, f"jobs/assets/{partial}", {"asset": asset, "now": timezone.now()})
    if services.is_settled(asset):
        response.status_code = HTMX_STOP_POLLING
    return response


# Upload ----------------------------------------------------------------------------------


@csrf_exempt
@member_required
@require_http_methods(["GET", "POST"])
def asset_upload(request: HtmxHttpRequest) -> HttpResponse:
    """The upload page. On POST the hashing, size-limited handler is installed before the
    body is read (so this view is csrf_exempt outside and csrf_protect inside)."""
    if request.method == "POST":
        limit = settings.UPLOAD_MAX_BYTES * MAX_FILES_PER_REQUEST + 1024 * 1024
        if _declared_length(request) > limit:
            return _too_large(request)
        request.upload_handlers = [HashingUploadHandler(request)]
    return _asset_upload(request)


def _declared_length(request: HtmxHttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django's parser treats a malformed length as an empty body


def _too_large(request: HtmxHttpRequest) -> HttpResponse:
    """The declared body is beyond any acceptable upload: answer without reading it."""
    results = [UploadResult(name="Upload", error=size_limit_message(settings.UPLOAD_MAX_BYTES))]
    template = "jobs/assets/upload.html#results" if _is_xhr(request) else "jobs/assets/upload.html"
    context = _upload_context(AssetUploadForm(), results)
    return render(request, template, context, status=413)


@csrf_protect
def _asset_upload(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        form = AssetUploadForm(initial={"project": request.GET.get("project")})
        return render(request, "jobs/assets/upload.html", _upload_context(form, []))
    form = AssetUploadForm(request.POST, request.FILES)
    refusals: list[UploadRefusal] = getattr(request, "upload_refusals", [])
    results = [UploadResult(sanitise_name(r.file_name), error=r.message) for r in refusals]
    status = 200
    if form.is_valid():
        files = form.cleaned_data["files"]
        results = [*(_upload_one(request, upload, form) for upload in files), *results]
        if not results:
            form.add_error("files", "Choose at least one file to upload.")
    else:
        for upload in request.FILES.getlist("files"):
            upload.close()  # nothing is kept from an invalid form
        results = []
        status = 400 if _is_xhr(request) else 200
    template = "jobs/assets/upload.html#results" if _is_xhr(request) else "jobs/assets/upload.html"
    return render(request, template, _upload_context(form, results), status=status)


def _upload_one(
    request: HtmxHttpRequest, upload: UploadedFile, form: AssetUploadForm
) -> UploadResult:
    name = sanitise_name(upload.name or "")
    try:
        outcome = services.asset_create_from_upload(
            upload=upload, project=form.cleaned_data["project"], user=request.user
        )
    except AudioRejected as exc:
        return UploadResult(name, error=exc.message)
    audit.record(request, audit.Action.ASSET_UPLOADED, outcome.asset, created=outcome.created)
    return UploadResult(name, outcome=outcome)


def _is_xhr(request: HtmxHttpRequest) -> bool:
    """The upload script posts each file on its own and wants only its result back."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _upload_context(form: AssetUploadForm, results: list[UploadResult], **extra: object) -> dict:
    return {
        "form": form,
        "url_form": extra.pop("url_form", None) or AssetUrlForm(initial=form.initial),
        "results": results,
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "max_size": filesizeformat(settings.UPLOAD_MAX_BYTES),
        **extra,
    }


@member_required
@require_POST
def asset_register_url(request: HtmxHttpRequest) -> HttpResponse:
    """Register a public HTTPS URL as a source (AudioShake fetches it at each task)."""
    url_form = AssetUrlForm(request.POST)
    if url_form.is_valid():
        try:
            asset, created = services.asset_register_url(
                url=url_form.cleaned_data["url"],
                project=url_form.cleaned_data["project"],
                user=request.user,
                name=url_form.cleaned_data["name"],
            )
        except ValidationError as exc:
            url_form.add_error(None, exc)
        else:
            audit.record(request, audit.Action.ASSET_URL_REGISTERED, asset, created=created)
            if created:
                messages.success(request, f"Registered “{asset.name}”: ready to use in a task.")
            else:
                messages.info(
                    request,
                    f"This URL is already in the library: registered by "
                    f"{asset.uploaded_by.display_name} on {asset.created_at:%d %b %Y}.",
                )
            return redirect(asset)
    context = _upload_context(AssetUploadForm(), [], url_form=url_form)
    return render(request, "jobs/assets/upload.html", context)


# Asset page ------------------------------------------------------------------------------


def _get(pk: int) -> Asset:
    try:
        return services.asset_get(pk=pk)
    except Asset.DoesNotExist:
        raise Http404("No such asset.") from None


def _detail_context(request: HtmxHttpRequest, asset: Asset, **forms: object) -> dict:
    return {
        "asset": asset,
        "tasks": asset.tasks.select_related("created_by", "project")
        .prefetch_related("targets")
        .order_by("-created_at")[:50],
        "rename_form": forms.get("rename_form") or AssetRenameForm(initial={"name": asset.name}),
        "move_form": forms.get("move_form") or AssetMoveForm(initial={"project": asset.project_id}),
        "can_delete": services.asset_can_delete(asset=asset, user=request.user),
        # Why a task cannot use it (the task form's own rule), in place of "Use in a task".
        "source_problem": source_problem(asset=asset),
        "keep_local_copy": settings.ASSET_KEEP_LOCAL_COPY,
        "now": timezone.now(),
    }


@require_GET
def asset_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    asset = _get(pk)
    return render(request, "jobs/assets/detail.html", _detail_context(request, asset))


@member_required
@require_POST
def asset_rename(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    asset = _get(pk)
    form = AssetRenameForm(request.POST)
    if form.is_valid():
        old = asset.name
        try:
            services.asset_rename(asset=asset, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            audit.record(request, audit.Action.ASSET_RENAMED, asset, old=old, new=asset.name)
            messages.success(request, f"Renamed to “{asset.name}”.")
            return redirect(asset)
    context = _detail_context(request, asset, rename_form=form)
    return render(request, "jobs/assets/detail.html", context)


@member_required
@require_POST
def asset_move(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    asset = _get(pk)
    form = AssetMoveForm(request.POST)
    if form.is_valid():
        try:
            services.asset_move(asset=asset, project=form.cleaned_data["project"])
        except ValidationError as exc:
            form.add_error("project", exc)
        else:
            messages.success(request, f"Moved to {asset.project.name}.")
            return redirect(asset)
    context = _detail_context(request, asset, move_form=form)
    return render(request, "jobs/assets/detail.html", context)


@member_required
@require_http_methods(["GET", "POST"])
def asset_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A confirmation page, then the deletion (owner or admin)."""
    asset = _get(pk)
    if not services.asset_can_delete(asset=asset, user=request.user):
        raise PermissionDenied("Only an admin can delete an asset someone else uploaded.")
    error = ""
    if request.method == "POST":
        try:
            services.asset_delete(asset=asset)
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            audit.record(request, audit.Action.ASSET_DELETED, asset, object_id=pk)
            messages.success(request, _deleted_message(asset))
            return redirect("jobs:asset_list")
    context = {"asset": asset, "error": error, "now": timezone.now()}
    return render(request, "jobs/assets/delete.html", context, status=409 if error else 200)


def _deleted_message(asset: Asset) -> str:
    message = f"Deleted “{asset.name}” and its local copy."
    if asset.remote_id and asset.remote_expires_at and asset.remote_expires_at > timezone.now():
        message += (
            f" AudioShake keeps its copy until it expires on "
            f"{timezone.localtime(asset.remote_expires_at):%d %b %Y %H:%M %Z}."
        )
    return message


def _local_file(request: HtmxHttpRequest, pk: int, *, as_attachment: bool) -> HttpResponse:
    """The kept copy, with byte ranges: a redirect to a presigned link when it is in a bucket,
    served here through `jobs.ranged` when it is in a local folder."""
    asset = _get(pk)
    if not asset.has_local_copy:
        raise Http404("This asset has no local copy.")
    content_type = CONTENT_TYPES.get(asset.format, "application/octet-stream")
    filename = download_name(asset.name, asset.format)
    link = signed_url(
        asset.file.storage,
        asset.file.name,
        filename=filename,
        content_type=content_type,
        as_attachment=as_attachment,
    )
    if link is not None:
        return private_redirect(link)
    try:
        fileobj = asset.file.open("rb")
    except FileNotFoundError:
        raise Http404("The local copy is missing from storage.") from None
    return ranged_file_response(
        request,
        fileobj,
        size=asset.file.size,
        content_type=content_type,
        filename=filename,
        as_attachment=as_attachment,
        etag=asset.sha256,
    )


@require_GET
def asset_audio(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The local copy for the player, with Range support so it can seek."""
    return _local_file(request, pk, as_attachment=False)


@require_GET
def asset_download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _local_file(request, pk, as_attachment=True)


urlpatterns = [
    path("assets/", asset_list, name="asset_list"),
    path("assets/upload/", asset_upload, name="asset_upload"),
    path("assets/register-url/", asset_register_url, name="asset_register_url"),
    path("assets/<int:pk>/", asset_detail, name="asset_detail"),
    path("assets/<int:pk>/status/", asset_status, name="asset_status"),
    path("assets/<int:pk>/rename/", asset_rename, name="asset_rename"),
    path("assets/<int:pk>/move/", asset_move, name="asset_move"),
    path("assets/<int:pk>/delete/", asset_delete, name="asset_delete"),
    path("assets/<int:pk>/audio/", asset_audio, name="asset_audio"),
    path("assets/<int:pk>/download/", asset_download, name="asset_download"),
]
