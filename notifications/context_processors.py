from django.conf import settings
from django.http import HttpRequest


def browser_poll(request: HttpRequest) -> dict:
    """How often `static/js/notify.js` asks for browser notices (no query)."""
    return {"notify_poll_seconds": settings.NOTIFY_BROWSER_POLL_SECONDS}
