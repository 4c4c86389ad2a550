"""Role checks for views. Permission checks live in views (never around a partial in a
template). Each decorator also marks the view with `required_role`, so a test can walk the
URLconf and prove that a viewer is refused every spending or admin action."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def _role_required(
    role: str, allowed: Callable[[Any], bool], message: str
) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not allowed(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return decorator


member_required = _role_required(
    "member",
    lambda user: user.is_authenticated and user.can_spend,
    "Viewers cannot upload audio or spend credits. Ask an admin for the member role.",
)
admin_required = _role_required(
    "admin",
    lambda user: user.is_authenticated and user.is_active and user.is_team_admin,
    "Only team admins can do this.",
)
costs_required = _role_required(
    "costs",
    lambda user: user.is_authenticated and user.sees_costs,
    "The Costs page is for admins and members with the cost permission.",
)
