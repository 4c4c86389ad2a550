"""How long a log-in lasts, and ending a member's log-ins.

A session ends after SESSION_IDLE_MINUTES without a request, and in any case
SESSION_ABSOLUTE_HOURS after the log-in. To keep writes low, a request refreshes the
session's "last seen" time (and so its expiry, SESSION_COOKIE_AGE = the idle timeout) at most
once per SESSION_REFRESH_MINUTES: a busy member costs one session write per interval, not
one per request, and the idle timeout is exact to within that interval.
"""

import time
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.utils import timezone

STARTED = "accounts:session_started"
SEEN = "accounts:session_seen"
DB_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


def session_start(request: HttpRequest) -> None:
    """At log-in: the clocks of the idle timeout and of the absolute cap start now."""
    now = int(time.time())
    request.session[STARTED] = now
    request.session[SEEN] = now


def session_expired(request: HttpRequest) -> str:
    """Why the session of this (logged-in) request is over, or "" while it is not. A session
    that is still good gets its "last seen" refreshed when it is older than the interval."""
    session = request.session
    now = int(time.time())
    started = session.setdefault(STARTED, now)  # a session from before this rule: from now
    seen = session.get(SEEN, started)
    if now - started > settings.SESSION_ABSOLUTE_SECONDS:
        hours = settings.SESSION_ABSOLUTE_SECONDS / 3600
        return f"You were logged out {hours:g} hours after logging in: log in again."
    if now - seen > settings.SESSION_IDLE_SECONDS:
        minutes = settings.SESSION_IDLE_SECONDS // 60
        return f"You were logged out after {minutes} minutes without activity: log in again."
    if now - seen >= settings.SESSION_REFRESH_SECONDS:
        session[SEEN] = now  # saved by SessionMiddleware, which also renews its expiry
    return ""


def sessions_end(*, user_pk: int) -> int:
    """Delete every stored session of this user (on deactivation: logging back in is then
    required even after a reactivation). Returns how many were ended."""
    if settings.SESSION_ENGINE not in DB_ENGINES:
        return 0  # the middleware still ends them at their next request
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = Session.objects.filter(expire_date__gt=timezone.now()).values_list(
        "session_key", "session_data"
    )
    ended = [key for key, data in rows if store().decode(data).get(SESSION_KEY) == str(user_pk)]
    for key in ended:
        store(session_key=key).delete()
    return len(ended)
