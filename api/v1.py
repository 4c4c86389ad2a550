"""`/api/v1/`: the JSON API for the team's scripts (django-ninja: the OpenAPI schema comes
from the type hints, the docs page is ninja's vendored Swagger UI served from our static files,
which the CSP allows, never its CDN).

Every call authenticates with a personal token (`Authorization: Bearer shk_…`, `api.tokens`)
and acts as its user with their role now: a viewer's token reads, a member's spends, exactly
as on the pages. Session cookies are not accepted here, so no CSRF token is needed (and none
could be forged). Each call writes one audit event: the endpoint's own action, `api_read` for
reads, or `api_refused` with the status for a refused call. Errors are JSON
`{"detail": "...", "errors": {...}}` with 400/401/403/404/409/413/429."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

import audit
from api.common import ApiError, refused
from api.models import ApiToken
from api.routes import assets, costs, tasks
from api.tokens import TokenRefused, token_check


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        try:
            api_token = token_check(token)
        except TokenRefused as problem:
            raise AuthenticationError(message=problem.message) from None
        request.user = api_token.user
        request.audit_via = audit.Via.API  # type: ignore[attr-defined]
        request.api_token = api_token  # type: ignore[attr-defined]
        _count_call(api_token)
        return api_token


def _count_call(token: ApiToken) -> None:
    """At most `API_RATE_PER_MINUTE` calls per token and minute (shared cache), else 429."""
    limit = settings.API_RATE_PER_MINUTE
    minute = int(timezone.now().timestamp() // 60)
    key = f"api-rate:{token.pk}:{minute}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        raise ApiError(429, f"Too many calls: this token may make {limit} a minute. Wait a little.")


api = NinjaAPI(
    title="shakeweb API",
    version="1",
    description="Upload assets, create tasks (through the dashboard's own form rules: the "
    "same validation, estimate and project budget), read tasks with their outputs' download "
    "links, and read costs. Authenticate with a personal token from your profile page "
    "(Authorization: Bearer shk_…). See docs/api.md.",
    auth=TokenAuth(),
    urls_namespace="api-v1",
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return refused(request, exc.status_code, exc.message, exc.errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = exc.message
    if message == "Unauthorized":  # ninja's own: no or a malformed Authorization header
        message = "Send a personal API token: “Authorization: Bearer shk_…” (profile page)."
    return refused(request, 401, message)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return refused(request, exc.status_code, str(exc))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
        errors.setdefault(where or "request", []).append(str(error.get("msg", "invalid")))
    return refused(request, 400, "The request is not valid: see errors.", errors)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return refused(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return refused(request, 403, str(exc) or "Not allowed.")


api.add_router("", assets.router)
api.add_router("", tasks.router)
api.add_router("", costs.router)
