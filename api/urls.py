"""`/api/v1/` and the profile's token pages.

The API's operations authenticate by token, not by session: each is marked
`login_not_required` so `LoginRequiredMiddleware` lets the call reach the token check (which
answers 401 without a good token). The docs page and `openapi.json` stay behind the log-in.
`tests/test_urlconf.py` lists these routes as token-checked and proves each answers 401 to
an anonymous call."""

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from api import views
from api.common import refused
from api.v1 import api

LOGIN_PAGES = {"api-root", "openapi-json", "openapi-view"}  # for people: behind the log-in


def _token_checked(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and pattern.name not in LOGIN_PAGES:
            login_not_required(pattern.callback)
    return patterns


@login_not_required
def api_not_found(request: object, rest: str) -> object:
    """Any other path under /api/v1/: a JSON 404, never the HTML page."""
    return refused(request, 404, f"No API endpoint /api/v1/{rest[:100]}: see /api/v1/docs.")


_patterns, _app, _namespace = api.urls  # not `app_name`: that would namespace this module
urlpatterns = [
    path("api/v1/", include((_token_checked(_patterns), _app), namespace=_namespace)),
    path("api/v1/<path:rest>", api_not_found, name="api_not_found"),
    path("", include((views.urlpatterns, "api"))),
]
