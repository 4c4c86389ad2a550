"""Placeholder: the task screens (issue 6) replace this module."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from jobs.models import Task


def task_list(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/placeholder.html", {"title": "Tasks"})


def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=pk)
    return render(request, "jobs/placeholder.html", {"title": str(task)})


urlpatterns = [
    path("tasks/", task_list, name="task_list"),
    path("tasks/<int:pk>/", task_detail, name="task_detail"),
]
