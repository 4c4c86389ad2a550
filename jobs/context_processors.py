from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from jobs.models import ApiHealth, PollerHeartbeat

POLLER_STALE_AFTER = timedelta(seconds=30)


def system_status(request: HttpRequest) -> dict:
    """Banners for every page: no poller running, AudioShake degraded. Two cheap queries,
    only for logged-in pages (htmx fragments skip it)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    if getattr(request, "htmx", False):
        return {}
    now = timezone.now()
    last = (
        PollerHeartbeat.objects.filter(stopped_at__isnull=True)
        .order_by("-last_seen_at")
        .values_list("last_seen_at", flat=True)
        .first()
    )
    health = ApiHealth.objects.filter(pk=1).first()
    return {
        "poller_last_seen": last,
        "poller_missing": last is None or now - last > POLLER_STALE_AFTER,
        "api_degraded_since": health.degraded_since if health else None,
    }
