"""Placeholder: the costs screens (issue 8) replace this module."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/placeholder.html", {"title": "Costs"})


urlpatterns = [path("", overview, name="overview")]
