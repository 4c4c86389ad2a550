"""The AudioShake-compatible API under /sandbox/api (contract sections 1 and 10).

Every endpoint goes through `api_endpoint`, which, in order: counts the request for
`GET /_control/requests`, adds injected latency, checks `x-api-key` (401), answers unknown
methods with Fastify's 404, fires the injected faults (429, 5xx, hang, garbage) and the optional
real 60 req/s limiter, then runs the view. Errors are JSON `{statusCode, error, message}`;
an unexpected exception is logged and becomes a JSON 500, never an HTML page.
"""

import json
import logging
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from sandbox import services
from sandbox.catalogue import catalogue_json
from sandbox.errors import ApiError, bad_request, error_response, reason
from sandbox.faults import (
    credits_exhausted,
    fault_config,
    fault_take,
    in_scope,
    limiter,
    request_count,
)
from sandbox.ids import looks_like_id
from sandbox.keys import sandbox_api_key, sandbox_client_id
from sandbox.links import site_base
from sandbox.models import FaultConfig, SandboxAsset, media_path
from sandbox.payloads import asset_json, task_json
from sandbox.uploads import AssetUploadHandler, content_matches, format_for, starts_with_padding
from sandbox.validation import task_request_parse

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
MULTIPART_SLACK = 1024 * 1024  # multipart framing around the file, for the early size check
PADDED_ASSET_MESSAGE = "Error fetching or processing asset"
HTML_ERROR = """<!DOCTYPE html>
<html><head><title>{status} {reason}</title></head>
<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>
"""


def _faults(request: HttpRequest) -> FaultConfig:
    return request.sandbox_faults  # type: ignore[attr-defined]


def api_key_check(request: HttpRequest) -> None:
    sent = request.headers.get("x-api-key")
    if not sent:
        raise ApiError(401, "Missing API key: send it in the x-api-key header")
    if not secrets.compare_digest(sent.encode(), sandbox_api_key().encode()):
        raise ApiError(401, "Invalid API key")


def _server_error(config: FaultConfig) -> HttpResponse:
    status = config.fail_status
    if config.html_errors:
        return HttpResponse(
            HTML_ERROR.format(status=status, reason=reason(status)),
            status=status,
            content_type="text/html; charset=utf-8",
        )
    return error_response(status, f"{reason(status)} (injected by the sandbox)")


def _hang(config: FaultConfig) -> HttpResponse:
    time.sleep(config.hang_seconds)
    return error_response(504, "Gateway Timeout (injected hang)")


def _too_many(config: FaultConfig) -> ApiError:
    seconds = config.retry_after_seconds
    return ApiError(
        429,
        f"Rate limit exceeded, retry in {seconds} second{'s' if seconds != 1 else ''}",
        headers={"Retry-After": str(seconds)},
    )


def _run(
    request: HttpRequest,
    view: View,
    kwargs: dict[str, Any],
    *,
    pattern: str,
    methods: tuple[str, ...],
    auth: bool,
) -> HttpResponse:
    key = f"{request.method} {pattern}"
    request_count(pattern=key)
    config = fault_config()
    request.sandbox_faults = config  # type: ignore[attr-defined]
    scoped = in_scope(config, key)
    if scoped and config.latency_ms:
        time.sleep(config.latency_ms / 1000)
    if auth:
        api_key_check(request)
    if request.method not in methods:
        raise ApiError(404, f"Route {request.method}:{request.path} not found")
    if scoped:
        if fault_take(config, "rate_limit_next"):
            raise _too_many(config)
        if fault_take(config, "fail_5xx_next"):
            return _server_error(config)
        if fault_take(config, "hang_next"):
            return _hang(config)
        if fault_take(config, "garbage_next"):
            return HttpResponse(b'{"id": "cm5trunc', content_type="application/json")
    if config.rate_limit_enabled and not limiter.allow(
        request.headers.get("x-api-key", ""), config.rate_limit_per_second
    ):
        raise _too_many(config)
    return view(request, **kwargs)


def api_endpoint(
    pattern: str, *, methods: tuple[str, ...] = ("GET",), auth: bool = True
) -> Callable[[View], View]:
    """Wrap an API view: see the module docstring. `pattern` names the route in request
    counts and fault scopes, e.g. "/tasks/{id}" counts as "GET /tasks/{id}"."""

    def decorator(view: View) -> View:
        @csrf_exempt
        @login_not_required
        @never_cache
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                return _run(request, view, kwargs, pattern=pattern, methods=methods, auth=auth)
            except ApiError as exc:
                return error_response(exc.status, exc.message, headers=exc.headers)
            except Exception:
                logger.exception("sandbox API error on %s %s", request.method, request.path)
                return error_response(500, "Internal Server Error")

        return wrapped

    return decorator


def _int_param(request: HttpRequest, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"querystring/{name} must be integer") from None
    if value < low:
        raise bad_request(f"querystring/{name} must be >= {low}")
    if value > high:
        raise bad_request(f"querystring/{name} must be <= {high}")
    return value


def _json_body(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, f"Unsupported Media Type: {request.content_type or 'none'}")
    try:
        return json.loads(request.body)
    except RequestDataTooBig:
        raise ApiError(413, "Request body is too large") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Body is not valid JSON: {exc}") from None


def _ttl(request: HttpRequest) -> int:
    return _faults(request).link_ttl_seconds


# Assets ------------------------------------------------------------------------------------


@api_endpoint("/assets", methods=("GET", "POST"))
def assets(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _asset_upload(request)
    base, ttl = site_base(request), _ttl(request)
    rows = SandboxAsset.objects.live().filter(client_id=sandbox_client_id())
    return JsonResponse([asset_json(a, base=base, ttl_seconds=ttl) for a in rows], safe=False)


def _limit_text(max_bytes: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if max_bytes >= size:
            return f"{max_bytes / size:g} {unit}"
    return f"{max_bytes} bytes"


def _asset_upload(request: HttpRequest) -> HttpResponse:
    if credits_exhausted(_faults(request)):
        raise ApiError(402, "Insufficient credits: uploading assets needs a positive balance")
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "The request is not multipart: send the file as multipart/form-data")
    max_bytes = settings.SANDBOX_MAX_UPLOAD_BYTES
    too_large = ApiError(413, f"The file is larger than the {_limit_text(max_bytes)} limit")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes + MULTIPART_SLACK:
        raise too_large
    handler = AssetUploadHandler(
        request, directory=media_path(services.ASSETS_DIR), max_bytes=max_bytes
    )
    request.upload_handlers = [handler]
    try:
        upload = request.FILES.get("file")
    except (
        MultiPartParserError,
        RequestDataTooBig,
        TooManyFieldsSent,
        TooManyFilesSent,
        UnreadablePostError,
    ) as exc:
        handler.discard()
        raise bad_request(f"Could not read the multipart body: {exc}") from None
    except BaseException:
        handler.discard()
        raise
    if handler.too_large:
        raise too_large
    if upload is None:
        raise bad_request('Send the file in a multipart field named "file"')
    try:
        fmt = format_for(upload.name)
        if fmt is None:
            raise bad_request(
                f'Unsupported file type "{upload.name}": upload wav, aiff, flac, mp3, aac, '
                "m4a, mp4 or mov media, or a json or txt transcript"
            )
        if upload.size == 0:
            raise bad_request(f'"{upload.name}" is empty')
        if not content_matches(fmt, upload.path):
            raise bad_request(f'The content of "{upload.name}" is not {fmt}')
        asset = services.asset_store(upload=upload, fmt=fmt, client_id=sandbox_client_id())
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    return JsonResponse(
        {
            k: v
            for k, v in asset_json(
                asset, base=site_base(request), ttl_seconds=_ttl(request)
            ).items()
            if k in ("id", "format", "link", "name")
        }
    )


# Tasks -------------------------------------------------------------------------------------


@api_endpoint("/tasks", methods=("GET", "POST"))
def tasks(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _task_create(request)
    skip = _int_param(request, "skip", default=0, low=0, high=2**31 - 1)
    take = _int_param(request, "take", default=10, low=1, high=100)
    rows = services.tasks_with_targets().filter(client_id=sandbox_client_id())[skip : skip + take]
    base, ttl = site_base(request), _ttl(request)
    return JsonResponse([task_json(t, base=base, ttl_seconds=ttl) for t in rows], safe=False)


def _task_create(request: HttpRequest) -> HttpResponse:
    config = _faults(request)
    if credits_exhausted(config):
        raise ApiError(402, "Insufficient credits: buy credits to create tasks")
    parsed = task_request_parse(
        _json_body(request),
        client_id=sandbox_client_id(),
        max_targets=settings.SANDBOX_MAX_TARGETS,
        metadata_max=settings.SANDBOX_METADATA_MAX,
    )
    if parsed.asset is not None and config.reject_padded:
        try:
            padded = starts_with_padding(parsed.asset.file_path)
        except OSError:
            padded = True  # the file is gone: the same failure for the caller
        if padded:
            raise bad_request(PADDED_ASSET_MESSAGE)
    task = services.task_create(request=parsed, client_id=sandbox_client_id())
    if fault_take(config, "create_response_lost_next"):
        logger.info("sandbox: task %s created, response lost on purpose", task.id)
        if config.create_response_lost_mode == "hang":
            return _hang(config)
        return error_response(502, "Bad Gateway (injected after the task was created)")
    return JsonResponse(
        task_json(task, base=site_base(request), ttl_seconds=config.link_ttl_seconds)
    )


@api_endpoint("/tasks/{id}")
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = services.tasks_with_targets().filter(pk=task_id, client_id=sandbox_client_id()).first()
    if task is None:
        raise ApiError(404, f'Task "{task_id}" not found')
    return JsonResponse(task_json(task, base=site_base(request), ttl_seconds=_ttl(request)))


@api_endpoint("/tasks/statistics")
def statistics(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("name", "usage")
    if name == "usage":
        rows = services.usage_statistics(client_id=sandbox_client_id())
    elif name == "distribution":
        rows = services.distribution_statistics(client_id=sandbox_client_id())
    else:
        raise bad_request(
            'querystring/name must be equal to one of the allowed values: "usage", "distribution"'
        )
    return JsonResponse(rows, safe=False)


@api_endpoint("/models")
def models(request: HttpRequest) -> HttpResponse:
    """The documented shape; `SANDBOX_MODELS_EXTENDED` adds `variants` and `residual`."""
    return JsonResponse({"models": catalogue_json(extended=settings.SANDBOX_MODELS_EXTENDED)})


@csrf_exempt
@login_not_required
@never_cache
def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other path under the API (e.g. DELETE /assets/{id}): Fastify's JSON 404."""
    shape = "/".join("{id}" if looks_like_id(part) else part for part in rest.split("/"))
    request_count(pattern=f"{request.method} /{shape}")
    return error_response(404, f"Route {request.method}:{request.path} not found")
