"""Two rules for every logged-in request, after authentication:

- the session policy (`accounts.sessions`): idle timeout and absolute cap; a session whose
  member was deactivated (or deleted) is ended for good, not only refused;
- `Cache-Control: private, no-store` on what logged-in people get (pages, fragments, files),
  so that no browser or proxy cache keeps a copy after log-out. Static files never get here
  (WhiteNoise answers them first)."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse

from accounts.sessions import session_expired

NO_STORE = "private, no-store"


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        authenticated = user.is_authenticated
        if authenticated:
            reason = session_expired(request)
            if reason:
                logout(request)
                messages.info(request, reason)
        elif SESSION_KEY in request.session:  # its member was deactivated or deleted
            request.session.flush()
        response = self.get_response(request)
        personal = authenticated or response.get("Content-Type", "").startswith("text/html")
        if personal and "no-store" not in response.get("Cache-Control", ""):
            response["Cache-Control"] = NO_STORE
        return response
