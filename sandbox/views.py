"""The sandbox's own page (/sandbox/): its key's last characters, the fault switches and the
recent tasks. For logged-in team members; the switches are changed through the control API."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sandbox.faults import fault_config, faults_active, faults_json, request_counts
from sandbox.keys import sandbox_api_key, sandbox_client_id
from sandbox.models import WebhookAttempt
from sandbox.services import tasks_with_targets
from sandbox.webhooks import redact, webhook_url

RECENT = 15


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    config = fault_config()
    context = {
        "key_tail": sandbox_api_key()[-4:],
        "api_base": request.build_absolute_uri("/sandbox/api"),
        "speed": settings.SANDBOX_SPEED,
        "faults": faults_json(config),
        "active": faults_active(config),
        "webhook_url": redact(webhook_url(config)),
        "counts": sorted(request_counts().items()),
        "tasks": tasks_with_targets().filter(client_id=sandbox_client_id())[:RECENT],
        "attempts": WebhookAttempt.objects.all()[:RECENT],
    }
    return render(request, "sandbox/index.html", context)
