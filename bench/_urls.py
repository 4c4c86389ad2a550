"""The benchmarks' URLconf: the shipped one, plus `/_bench/floor/`, the floor every page is
measured against: login required (LoginRequiredMiddleware), the same middleware and session
lookup as every page, and a constant body (no query of its own, no template)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from shakeweb.urls import urlpatterns as shipped


def floor(request: HttpRequest) -> HttpResponse:
    """A constant, for a logged-in user."""
    return HttpResponse("floor", content_type="text/plain")


urlpatterns = [path("_bench/floor/", floor, name="bench_floor"), *shipped]
