"""Webhook delivery: after each target reaches `completed` or `error`, POST the full task JSON
(the same as `GET /tasks/{id}` at that moment) to the webhook URL (contract section 5).

The URL, first found wins: FaultConfig.webhook_url (set through the control API),
settings.SANDBOX_WEBHOOK_URL, else the dashboard's own receiver `{SITE_URL}/webhooks/audioshake/`
when AUDIOSHAKE_WEBHOOK_SECRET is set; no URL, no webhook. With a secret set, every delivery
carries `X-Shakeweb-Signature: sha256=<HMAC-SHA256 of the body keyed with the secret>`, so the
secret is never in a URL (AudioShake itself documents no signature: see docs/sandbox.md).
Each delivery gets up to `webhook_max_attempts` tries (3 by default) with a 5 s timeout and
0.5 s, 1 s, 2 s... between them; any 2xx ends it. Every try is logged as a WebhookAttempt.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

import requests
from django.conf import settings

from sandbox.faults import fault_config
from sandbox.links import site_base
from sandbox.models import FaultConfig, WebhookAttempt
from sandbox.payloads import task_json
from sandbox.services import tasks_with_targets

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.5
USER_AGENT = "shakeweb-sandbox-webhooks/1"
SIGNATURE_HEADER = "X-Shakeweb-Signature"


def webhook_url(config: FaultConfig) -> str:
    if config.webhook_url:
        return config.webhook_url
    if settings.SANDBOX_WEBHOOK_URL:
        return settings.SANDBOX_WEBHOOK_URL
    secret = settings.AUDIOSHAKE_WEBHOOK_SECRET
    return f"{settings.SITE_URL.rstrip('/')}/webhooks/audioshake/" if secret else ""


def signature_headers(body: bytes) -> dict[str, str]:
    """The body's HMAC-SHA256 keyed with the dashboard's webhook secret (none without one)."""
    secret = settings.AUDIOSHAKE_WEBHOOK_SECRET
    if not secret:
        return {}
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: f"sha256={digest}"}


def redact(url: str) -> str:
    """The URL as logged and shown: the dashboard's webhook secret replaced."""
    secret = settings.AUDIOSHAKE_WEBHOOK_SECRET
    return url.replace(secret, "<secret>") if secret else url


def webhook_send(
    *, task_id: str, target_id: str, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Deliver the webhook for one target's terminal transition. True when a try got a 2xx;
    False when there is no URL or every try failed."""
    config = fault_config()
    url = webhook_url(config)
    if not url:
        return False
    task = tasks_with_targets().get(pk=task_id)
    status = next((t.status for t in task.targets.all() if t.id == target_id), "")
    body = json.dumps(
        task_json(task, base=site_base(None), ttl_seconds=config.link_ttl_seconds)
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(body),
    }
    for attempt in range(1, config.webhook_max_attempts + 1):
        started = time.monotonic()
        response_status, error = None, ""
        try:
            response = requests.post(
                url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
            )
            response.close()
            response_status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        WebhookAttempt.objects.create(
            task_id=task_id,
            target_id=target_id,
            target_status=status,
            url=redact(url),
            attempt=attempt,
            response_status=response_status,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        if response_status is not None and 200 <= response_status < 300:
            return True
        logger.warning(
            "sandbox webhook for task %s try %d failed: %s",
            task_id,
            attempt,
            response_status or error,
        )
        if attempt < config.webhook_max_attempts:
            sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
    return False
