from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from shakeweb import health

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("accounts.urls")),
    path("costs/", include("costs.urls")),
    path("listening/", include("listening.urls")),
    path("batches/", include("batches.urls")),
    path("approvals/", include("approvals.urls")),
    path("", include("api.urls")),
    path("", include("notifications.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
