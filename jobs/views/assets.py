"""Placeholder: the assets screens (issue 5) replace this module."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from jobs.models import Asset


def asset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/placeholder.html", {"title": "Assets"})


def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    asset = get_object_or_404(Asset, pk=pk)
    return render(request, "jobs/placeholder.html", {"title": asset.name})


urlpatterns = [
    path("assets/", asset_list, name="asset_list"),
    path("assets/<int:pk>/", asset_detail, name="asset_detail"),
]
