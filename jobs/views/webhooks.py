"""AudioShake's webhook: `POST /webhooks/audioshake/<secret>/`.

Public (AudioShake cannot log in), so: the secret in the path is compared in constant time and
the route answers 404 unless `AUDIOSHAKE_WEBHOOK_SECRET` is set; bodies are capped at
`WEBHOOK_MAX_BYTES`; the JSON must be a task object with an id. A delivery is only a hint: it is
recorded and makes the task's refresh due now; statuses and links are read again from
`GET /tasks/{id}` by the poller, never taken from the body.
"""

import hmac
import json
import re

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.http import HtmxHttpRequest
from jobs.services.webhooks import webhook_receive

REMOTE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _secret_matches(given: str) -> bool:
    expected = settings.AUDIOSHAKE_WEBHOOK_SECRET
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _read_body(request: HtmxHttpRequest, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read at most `limit + 1`)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    data = request.read(limit + 1)
    return None if len(data) > limit else data


def _refuse(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


@csrf_exempt
@login_not_required
@require_POST
def webhook(request: HtmxHttpRequest, secret: str) -> HttpResponse:
    """Record the delivery and make the task's refresh due now; answers at once."""
    if not _secret_matches(secret):
        raise Http404("No webhook here")
    body = _read_body(request, settings.WEBHOOK_MAX_BYTES)
    if body is None:
        return _refuse(413, f"The body is over {settings.WEBHOOK_MAX_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "The body is not JSON")
    if not isinstance(payload, dict):
        return _refuse(400, "Expected a JSON object (a task)")
    remote_id = payload.get("id")
    if not isinstance(remote_id, str) or not REMOTE_ID_RE.match(remote_id):
        return _refuse(400, "The task has no valid id")
    metadata = payload.get("metadata")
    delivery = webhook_receive(
        remote_task_id=remote_id,
        metadata=metadata if isinstance(metadata, str) else None,
        body=body.decode("utf-8", errors="replace"),
        remote_addr=request.META.get("REMOTE_ADDR") or None,
    )
    status = 200 if delivery.task_id else 202
    return JsonResponse({"outcome": delivery.outcome}, status=status)


urlpatterns = [path("webhooks/audioshake/<str:secret>/", webhook, name="webhook")]
