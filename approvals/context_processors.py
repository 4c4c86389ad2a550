from django.http import HttpRequest

from approvals.services import pending_count


def approvals_nav(request: HttpRequest) -> dict:
    """The nav's Approvals count (pending requests: all of them for an admin, a member's own),
    one indexed COUNT, only for full pages of members and admins."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "htmx", False):
        return {}
    if not user.can_spend:
        return {}
    return {"approvals_pending": pending_count(user=user)}
