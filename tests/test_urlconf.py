"""Every page is private unless listed here, and role-marked views refuse the wrong roles.

The routes are discovered by walking the whole URLconf, so routes that other parts add later are
checked without touching this file. A route whose URL cannot be built from the sample values
below fails loudly: add a sample for its converter to SAMPLES."""

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.regex_helper import normalize

from accounts.models import Role, User

# Routes an anonymous visitor may open, as regular expressions on the path, with the reason.
PUBLIC = {
    r"/accounts/login/": "the log-in form",
    r"/accounts/password_reset/": "asking for a password-reset e-mail",
    r"/accounts/password_reset/done/": "its confirmation",
    r"/accounts/reset/[^/]+/[^/]+/": "the set-password link (reset and invitation)",
    r"/accounts/reset/done/": "its confirmation",
    r"/healthz": "containers and load balancers",
    r"/admin/login/": "the Django admin's log-in form (throttled by axes like ours)",
    r"/webhooks/audioshake/": "AudioShake's webhook calls: checked by their secret header",
    r"/webhooks/audioshake/[^/]+/": "AudioShake's webhook calls: checked by their secret",
    r"/sandbox/api/.*": "the sandbox API: checked by its own API key",
    r"/sandbox/files/.*": "sandbox download links: signed and expiring",
    r"/static/.*": "stylesheets and scripts",
}
# The API's operations (api/urls.py): no session, no log-in redirect; the token check answers
# 401 JSON to a call without a good token (proven below for each). Its docs page and
# openapi.json are for people and stay behind the log-in (they are in PRIVATE).
TOKEN_CHECKED = {
    r"/api/v1/assets": "upload an asset",
    r"/api/v1/assets/url": "register a URL",
    r"/api/v1/tasks": "create and list tasks",
    r"/api/v1/tasks/[^/]+": "read a task",
    r"/api/v1/costs": "read costs",
    r"/api/v1/1": "any other path under /api/v1/ (the walk's sample): a JSON 404",
}
# Django's LogoutView is POST-only: an anonymous GET may be redirected to log in or refused.
LOGOUT = r"/accounts/logout/"
# Views exempt from CSRF: called by machines, which hold no session cookie to abuse.
CSRF_EXEMPT = {
    r"/webhooks/audioshake/": "AudioShake's webhook calls (secret header or signature)",
    r"/webhooks/audioshake/[^/]+/": "AudioShake's webhook calls",
    r"/sandbox/api/.*": "the sandbox API (x-api-key)",
    r"/sandbox/files/.*": "signed download links fetched by the poller",
    **TOKEN_CHECKED,
}

# Values tried, in order, for each path parameter, until the built URL resolves to the route.
SAMPLES = [
    "1",
    "x",
    str(uuid.UUID(int=1)),
    "auth",
    "abc-def_123",
    "0123456789abcdef0123456789abcdef",
    "2026-01",
    "2026-01-01",
    "x.wav",
    "a/b",
]


@dataclass(frozen=True)
class Route:
    path: str  # a concrete URL that resolves to the view
    pattern: str  # the pattern as written, for messages
    callback: Any

    @property
    def required_role(self) -> str | None:
        return getattr(self.callback, "required_role", None)

    def __str__(self) -> str:
        return self.path


def _fill(pattern: RoutePattern | RegexPattern, is_endpoint: bool) -> str | None:
    """A piece of URL that `pattern` matches entirely, or None."""
    if isinstance(pattern, RoutePattern):
        route = str(pattern._route)
        for name, converter in pattern.converters.items():
            value = next((s for s in SAMPLES if re.fullmatch(converter.regex, s)), None)
            if value is None:
                return None
            route = re.sub(rf"<(?:\w+:)?{name}>", value, route, count=1)
        return route
    for template, params in normalize(pattern._regex):
        for values in itertools.product(SAMPLES, repeat=len(params)):
            piece = template % dict(zip(params, values, strict=True))
            match = pattern.regex.search(piece)
            if match and (not is_endpoint or match.end() == len(piece)):
                return piece
    return None


def _walk(resolver: URLResolver, prefix: str = "/") -> Iterator[Route | str]:
    """Routes, or an error message for a route whose URL could not be built."""
    for entry in resolver.url_patterns:
        piece = _fill(entry.pattern, is_endpoint=isinstance(entry, URLPattern))
        if piece is None:
            yield f"no sample value fits {prefix}{entry.pattern}"
            continue
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + piece)
            continue
        path = prefix + piece
        try:
            match = resolve(path)
        except Resolver404:
            yield f"{path} (from {prefix}{entry.pattern}) does not resolve"
            continue
        if match.func is entry.callback:
            yield Route(path=path, pattern=f"{prefix}{entry.pattern}", callback=entry.callback)
        # Otherwise an earlier route shadows this sample; the earlier one is checked itself.


DISCOVERED = list(_walk(get_resolver()))
ROUTES = [r for r in DISCOVERED if isinstance(r, Route)]
UNBUILDABLE = [r for r in DISCOVERED if isinstance(r, str)]


def _matches(path: str, patterns: list[str] | dict[str, str]) -> bool:
    return any(re.fullmatch(p, path) for p in patterns)


PRIVATE = [
    r
    for r in ROUTES
    if not _matches(r.path, PUBLIC)
    and not _matches(r.path, TOKEN_CHECKED)
    and not re.fullmatch(LOGOUT, r.path)
]
TOKEN_ROUTES = [r for r in ROUTES if _matches(r.path, TOKEN_CHECKED)]
PUBLIC_ROUTES = [r for r in ROUTES if _matches(r.path, PUBLIC)]
ROLE_MARKED = [r for r in ROUTES if r.required_role]

# Who must be refused by each role marker (besides anonymous visitors).
REFUSED = {
    "member": [Role.VIEWER],
    "admin": [Role.VIEWER, Role.MEMBER],
    "costs": [Role.VIEWER, Role.MEMBER],  # without the cost permission
}


def _login_redirect(response: HttpResponse) -> bool:
    """A redirect to our log-in page, or (Django's admin sets `login_url` on its views) to the
    admin's own log-in form."""
    pages = [resolve_url(settings.LOGIN_URL), "/admin/login/"]
    return response.status_code == 302 and any(
        response.url.startswith(f"{page}?next=") for page in pages
    )


def test_walk_finds_the_known_routes() -> None:
    """The walker reaches routes at every depth, so the checks below cannot pass vacuously."""
    assert not UNBUILDABLE, UNBUILDABLE
    paths = {r.path for r in ROUTES}
    for expected in [
        "/",
        "/team/",
        "/projects/1/",
        "/accounts/login/",
        "/healthz",
        "/admin/",
        "/approvals/",
        # Any logged-in member's own notification choices, and the browser's poll for notices.
        "/settings/notifications/",
        "/notifications/browser/",
    ]:
        assert expected in paths
    assert any(p.startswith("/admin/accounts/user/") for p in paths)
    assert {r.path for r in ROLE_MARKED} >= {
        "/team/",
        "/projects/",
        "/projects/1/",
        "/approvals/1/approve/",
        "/approvals/1/decline/",
        # Issue 16: exporting a mix, rating a target and its high_quality re-run are members' only.
        "/listening/tasks/1/mix/",
        "/listening/targets/1/rating/",
        "/listening/targets/1/rerun-high-quality/",
    }


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("route", PRIVATE, ids=str)
def test_anonymous_visitor_is_sent_to_login(client: Client, route: Route) -> None:
    """Every route not listed as public redirects an anonymous GET and POST to the log-in."""
    assert _login_redirect(client.get(route.path)), route.pattern
    assert _login_redirect(client.post(route.path)), route.pattern


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=str)
def test_public_routes_do_not_ask_to_log_in(client: Client, route: Route) -> None:
    """The listed public routes really are reachable without logging in."""
    response = client.get(route.path)
    assert not _login_redirect(response)
    assert response.status_code != 500


def test_token_checked_routes_are_the_api_operations() -> None:
    """Every route under /api/v1/ but the docs page and its schema is token-checked, and each
    entry of TOKEN_CHECKED names a real route (the list cannot go stale or grow silently)."""
    api_paths = {r.path for r in ROUTES if r.path.startswith("/api/v1/")}
    people = {"/api/v1/", "/api/v1/docs", "/api/v1/openapi.json"}
    assert {r.path for r in TOKEN_ROUTES} == api_paths - people
    for pattern in TOKEN_CHECKED:
        assert any(re.fullmatch(pattern, r.path) for r in TOKEN_ROUTES), pattern
    assert people <= {r.path for r in PRIVATE}


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("route", TOKEN_ROUTES, ids=str)
def test_token_checked_routes_refuse_calls_without_a_token(
    client: Client, member: User, route: Route
) -> None:
    """An API route answers 401 JSON to a call without a token, anonymous or with a logged-in
    session (cookies are not credentials here), on GET and POST; never a log-in redirect.
    (405: a method the route does not take; the catch-all answers a JSON 404.)"""
    expected = 404 if route.path == "/api/v1/1" else 401
    for logged_in in (False, True):
        if logged_in:
            client.force_login(member)
        responses = [client.get(route.path), client.post(route.path)]
        statuses = {response.status_code for response in responses}
        assert expected in statuses, (route.pattern, logged_in, statuses)
        assert statuses <= {expected, 405}, (route.pattern, logged_in, statuses)
        for response in responses:
            if response.status_code == expected:
                assert response["Content-Type"].startswith("application/json")
                assert response.json()["detail"]


@pytest.mark.django_db(databases="__all__")
def test_logout_is_post_only(client: Client, member: User) -> None:
    """Logging out takes a POST; a GET (a link, a prefetch) never logs anyone out."""
    client.force_login(member)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert _login_redirect(client.get("/"))


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("route", ROLE_MARKED, ids=lambda r: f"{r.required_role}:{r.path}")
def test_role_marked_views_refuse_lesser_roles(client: Client, route: Route) -> None:
    """A view marked member/admin/costs answers 403 to every lesser role, on GET and POST.
    (405 is accepted for a method the view does not take at all, when `@require_GET` or
    `@require_POST` sits above the role decorator; at least one method must give 403.)"""
    for role in REFUSED[route.required_role]:
        user = User.objects.create_user(username=f"user-{role}", role=role)
        client.force_login(user)
        statuses = {client.get(route.path).status_code, client.post(route.path).status_code}
        assert 403 in statuses, (role, route.pattern, statuses)
        assert statuses <= {403, 405}, (role, route.pattern, statuses)


CSRF_CHECKED = [r for r in ROUTES if not _matches(r.path, CSRF_EXEMPT)]


def test_only_machine_endpoints_are_csrf_exempt() -> None:
    """The routes left out of the CSRF check below are the machine endpoints (webhook,
    sandbox API and signed file links) and nothing else."""
    exempt = {r.path for r in ROUTES} - {r.path for r in CSRF_CHECKED}
    assert exempt
    assert all(
        p.startswith(("/webhooks/", "/sandbox/api/", "/sandbox/files/", "/api/v1/")) for p in exempt
    )


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("route", CSRF_CHECKED, ids=str)
def test_post_without_csrf_token_is_refused(route: Route) -> None:
    """Every POST needs the CSRF token, htmx requests included (except machine endpoints)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser(username="root", password=None))
    for headers in [{}, {"HX-Request": "true"}]:
        response = client.post(route.path, headers=headers)
        assert response.status_code == 403, (route.pattern, headers)
        assert "403_csrf.html" in [t.name for t in response.templates], route.pattern
