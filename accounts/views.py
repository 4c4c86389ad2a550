"""Placeholder: the team and project screens (issue 2) replace this module."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path


def team(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/placeholder.html", {"title": "Team"})


def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "jobs/placeholder.html", {"title": "Project"})


urlpatterns = [
    path("team/", team, name="team"),
    path("projects/<int:pk>/", project_edit, name="project_edit"),
]
