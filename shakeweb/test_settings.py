"""Settings for the test suite: pytest's DJANGO_SETTINGS_MODULE (pyproject.toml), inherited by
the processes the tests start (pollers, workers, commands) through the environment.

The shipped settings as production runs them (DEBUG off), with what a run on plain HTTP on
127.0.0.1 needs and nothing else: a key, no HTTPS redirect or secure-only cookies, static files
served unhashed (no `collectstatic` before the tests), throttling counters in memory, and the
sandbox allowed with DEBUG off (shakeweb.E001: tests call the check itself)."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-insecure-key-never-used-in-production")

from shakeweb.settings import *  # noqa: F403
from shakeweb.settings import STORAGES, env

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
SILENCED_SYSTEM_CHECKS = ["shakeweb.E001"]
