"""Password-reset requests, throttled per client address and per e-mail address typed, in
the cache (shared by every process of one machine by default; see CACHE_URL).

Both counts grow whatever the address belongs to, so the answer never tells whether an
account exists."""

import hashlib

from django.conf import settings
from django.core.cache import cache

THROTTLED = (
    "Too many password-reset requests for this address or from your network. Wait "
    "{minutes} minutes and try again; a link already sent keeps working."
)


def _count(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=window)
        return 1


def password_reset_allowed(*, ip: str, email: str) -> bool:
    """Count this request; False once either count is over its limit in the window."""
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    mailbox = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    by_ip = _count(f"password-reset:ip:{ip}", window)
    by_email = _count(f"password-reset:email:{mailbox}", window)
    return (
        by_ip <= settings.PASSWORD_RESET_PER_ADDRESS
        and by_email <= settings.PASSWORD_RESET_PER_ACCOUNT
    )


def throttled_message() -> str:
    return THROTTLED.format(minutes=max(settings.PASSWORD_RESET_WINDOW_SECONDS // 60, 1))
