"""Test and demo controls under /sandbox/api/_control (same x-api-key as the API; not counted
in the request counts and never hit by injected faults):

- `GET /_control/faults` the switches; `POST` a JSON object to change some of them.
- `POST /_control/reset` back to the defaults (settings.SANDBOX_FAULTS), counts cleared.
- `GET /_control/requests` `{"POST /tasks": 1, ...}`: requests received since the last reset.
- `POST /_control/echo` a webhook receiver (no key, like a real receiver; `?status=500` makes
  it answer 500 to test retries); `GET /_control/echo` what it received, newest first.
"""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from sandbox.api import api_key_check
from sandbox.errors import ApiError, bad_request, error_response
from sandbox.faults import (
    fault_config,
    faults_json,
    faults_parse,
    faults_reset,
    faults_update,
    request_counts,
)
from sandbox.models import ReceivedWebhook

View = Callable[..., HttpResponse]
ECHO_KEEP = 200


def control_endpoint(*, methods: tuple[str, ...], auth: bool = True) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @csrf_exempt
        @login_not_required
        @never_cache
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                if auth or request.method != "POST":
                    api_key_check(request)
                if request.method not in methods:
                    raise ApiError(404, f"Route {request.method}:{request.path} not found")
                return view(request, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.message, headers=exc.headers)

        return wrapped

    return decorator


@control_endpoint(methods=("GET", "POST"))
def faults(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            changes = faults_parse(json.loads(request.body or b"{}"))
        except ValueError as exc:  # includes JSON decode errors
            raise bad_request(str(exc)) from None
        return JsonResponse(faults_json(faults_update(changes=changes)))
    return JsonResponse(faults_json(fault_config()))


@control_endpoint(methods=("POST",))
def reset(request: HttpRequest) -> HttpResponse:
    return JsonResponse(faults_json(faults_reset()))


@control_endpoint(methods=("GET",))
def requests_received(request: HttpRequest) -> HttpResponse:
    return JsonResponse(request_counts())


@control_endpoint(methods=("GET", "POST"), auth=False)
def echo(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        rows = ReceivedWebhook.objects.all()[:ECHO_KEEP]
        return JsonResponse([_received(row) for row in rows], safe=False)
    if len(request.body) > settings.WEBHOOK_MAX_BYTES:
        raise ApiError(413, "Webhook body too large")
    ReceivedWebhook.objects.create(
        body=request.body.decode("utf-8", "replace"), content_type=request.content_type or ""
    )
    stale = ReceivedWebhook.objects.values_list("pk", flat=True)[ECHO_KEEP:]
    ReceivedWebhook.objects.filter(pk__in=list(stale)).delete()
    status = request.GET.get("status", "200")
    status_code = int(status) if status.isdigit() and 200 <= int(status) <= 599 else 200
    return JsonResponse({"received": True}, status=status_code)


def _received(row: ReceivedWebhook) -> dict[str, Any]:
    try:
        body: Any = json.loads(row.body)
    except ValueError:
        body = row.body
    return {
        "receivedAt": row.received_at.isoformat(),
        "contentType": row.content_type,
        "body": body,
    }
