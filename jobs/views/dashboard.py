from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from jobs.models import Asset, Task


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: recent tasks and assets."""
    tasks = Task.objects.select_related("project", "created_by")[:10]
    assets = Asset.objects.select_related("project", "uploaded_by")[:10]
    return render(request, "jobs/dashboard.html", {"tasks": tasks, "assets": assets})


urlpatterns = [path("", dashboard, name="dashboard")]
