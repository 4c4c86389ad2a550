"""The request type every view receives: `HttpRequest` with what our middleware adds.

`django_htmx.middleware.HtmxMiddleware` sets `request.htmx`; authentication sets `request.user`
to our `User`. Views annotate `request: HtmxHttpRequest` so type checkers know both (the
django-htmx documentation's recipe)."""

from django.http import HttpRequest
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User  # type: ignore[assignment]  # login-required views: always a member


# Pages whose URL answers both as a whole page and, to htmx, as a fragment of it. Caches (the
# browser's own, for back/forward) must key on the headers that choose between the two.
varies_with_htmx = vary_on_headers("HX-Request", "HX-History-Restore-Request")
