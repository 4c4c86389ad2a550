from django.conf import settings
from django.http import HttpRequest

from jobs.status import poller_health


def system_status(request: HttpRequest) -> dict:
    """Banners for every page: no poller running, AudioShake degraded. Two cheap queries,
    only for logged-in full pages (htmx fragments carry their own notices)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    if getattr(request, "htmx", False):
        return {}
    health = poller_health()
    return {
        "poller_last_seen": health.last_seen_at,
        "poller_missing": health.poller_missing,
        "api_degraded_since": health.api_degraded_since,
        # No AudioShake key: every result comes from the local sandbox, and the UI says so.
        "sandbox_mode": settings.SANDBOX_ENABLED and not settings.AUDIOSHAKE_API_KEY,
    }
