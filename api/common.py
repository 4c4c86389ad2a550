"""What every endpoint of `/api/v1/` shares: the JSON error with its audit event, the role
check of spending calls, and the audit event of a read."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja.errors import HttpError

import audit


class ApiError(HttpError):
    """A refusal with a message and, for bad input, the messages per field."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(status, message)
        self.errors = errors or {}


def refused(
    request: HttpRequest, status: int, message: str, errors: dict | None = None
) -> JsonResponse:
    """The JSON answer of a refused call, recorded as `api_refused` (with the token's user
    when the token was good)."""
    user = getattr(request, "user", None)
    actor = user if getattr(request, "api_token", None) is not None else None
    audit.record(
        request,
        audit.Action.API_REFUSED,
        actor=actor,
        via=audit.Via.API,
        status=status,
        method=request.method,
        path=request.path[:300],
        reason=message[:300],
    )
    body: dict[str, Any] = {"detail": message}
    if errors:
        body["errors"] = errors
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="shakeweb"'
    return response


def require_spender(request: HttpRequest) -> None:
    """Spending calls (uploads, tasks) need the member or admin role, as on the pages."""
    if not request.user.can_spend:
        raise ApiError(
            403,
            "Viewers cannot upload audio or spend credits: this token's user is a viewer. "
            "Ask an admin for the member role.",
        )


def read_event(request: HttpRequest, obj: Any = None, **details: Any) -> None:
    """The audit event of a successful read."""
    audit.record(
        request,
        audit.Action.API_READ,
        obj,
        method=request.method,
        path=request.path[:300],
        **details,
    )


def form_errors(form: Any, prefix: str = "") -> dict[str, list[str]]:
    """A Django form's errors by field (`request` for the form's own)."""
    return {
        (f"{prefix}{field}" if field != "__all__" else prefix.rstrip(".") or "request"): list(
            messages
        )
        for field, messages in form.errors.items()
    }
