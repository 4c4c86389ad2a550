"""AudioShake's webhook: `POST /webhooks/audioshake/`, authenticated by a header.

Public (AudioShake cannot log in), so the route answers 404 unless `AUDIOSHAKE_WEBHOOK_SECRET`
is set and the request proves it knows the secret, compared in constant time, by one of:

- `X-Shakeweb-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`
  (what the sandbox sends: the secret itself never travels);
- `X-Shakeweb-Webhook-Secret: <the secret>` (for a gateway that can add a fixed header).

AudioShake documents no signature and no headers (its dashboard takes one URL), so the old
form `POST /webhooks/audioshake/<secret>/` still works while `AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH`
is on (the default); its path is redacted from every log line (shakeweb.logging.RedactSecrets on
Django's handler and on gunicorn's loggers).

Bodies are capped at `WEBHOOK_MAX_BYTES`; the JSON must be a task object with an id. A delivery
is only a hint: it is recorded and makes the task's refresh due now; statuses and links are read
again from `GET /tasks/{id}` by the poller, never taken from the body.
"""

import hashlib
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
SIGNATURE_HEADER = "X-Shakeweb-Signature"
SECRET_HEADER = "X-Shakeweb-Webhook-Secret"


def _expected() -> bytes:
    return settings.AUDIOSHAKE_WEBHOOK_SECRET.encode()


def _same(given: str, expected: bytes) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode("utf-8", "replace"), expected)


def _signature_matches(header: str, body: bytes) -> bool:
    expected = _expected()
    if not expected or not header.startswith("sha256="):
        return False
    digest = hmac.new(expected, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(
        header.removeprefix("sha256=").strip().lower().encode(), digest.encode()
    )


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


def _receive(request: HtmxHttpRequest, *, authenticated: bool) -> HttpResponse:
    """Check the proof (unless the path carried it), the size and the shape; record."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    proven = authenticated or _same(request.headers.get(SECRET_HEADER, ""), _expected())
    if not proven and not (signature and _expected()):
        raise Http404("No webhook here")
    body = _read_body(request, settings.WEBHOOK_MAX_BYTES)
    if body is None:
        if not proven:  # a signature over a body we did not read proves nothing
            raise Http404("No webhook here")
        return _refuse(413, f"The body is over {settings.WEBHOOK_MAX_BYTES} bytes")
    if not proven and not _signature_matches(signature, body):
        raise Http404("No webhook here")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "The body is not JSON")
    except RecursionError:  # thousands of nested arrays/objects: no task looks like that
        return _refuse(400, "The body is not a task: its JSON is nested too deeply")
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


@csrf_exempt
@login_not_required
@require_POST
def webhook(request: HtmxHttpRequest) -> HttpResponse:
    """Record the delivery and make the task's refresh due now; answers at once."""
    return _receive(request, authenticated=False)


@csrf_exempt
@login_not_required
@require_POST
def webhook_path_secret(request: HtmxHttpRequest, secret: str) -> HttpResponse:
    """The same, for the URL AudioShake's dashboard holds (the secret in the path)."""
    if not settings.AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH or not _same(secret, _expected()):
        raise Http404("No webhook here")
    return _receive(request, authenticated=True)


urlpatterns = [
    path("webhooks/audioshake/", webhook, name="webhook"),
    path("webhooks/audioshake/<str:secret>/", webhook_path_secret, name="webhook_path_secret"),
]
