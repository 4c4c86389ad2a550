"""The dashboard's download links, for scripts: `GET` of an output, or of a task's ZIPs, with
`Authorization: Bearer shk_…` acts as the token's user for that request, so the links that
`GET /api/v1/tasks/{id}` returns work with the token as well as with a logged-in session.

Only those views (read-only, login-checked like every page), only GET/HEAD, and no session is
created or changed: it sits after `SessionPolicyMiddleware`, which has already looked at the
(anonymous) session. A bad token is a 401 JSON answer (recorded), never a log-in redirect."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

import audit
from api.common import refused
from api.tokens import TokenRefused, token_check

TOKEN_DOWNLOADS = {"jobs:output_download", "jobs:task_zip", "jobs:task_combined_zip"}


class TokenDownloadMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and request.method in ("GET", "HEAD"):
            try:
                view_name = resolve(request.path_info).view_name
            except Resolver404:
                view_name = ""
            if view_name in TOKEN_DOWNLOADS:
                try:
                    token = token_check(header[7:])
                except TokenRefused as problem:
                    return refused(request, 401, problem.message)
                request.user = token.user
                request.audit_via = audit.Via.API  # type: ignore[attr-defined]
                request.api_token = token  # type: ignore[attr-defined]
        return self.get_response(request)
