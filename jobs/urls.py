from jobs.views import assets, dashboard, results, tasks, webhooks

app_name = "jobs"

urlpatterns = [
    *dashboard.urlpatterns,
    *assets.urlpatterns,
    *tasks.urlpatterns,
    *results.urlpatterns,
    *webhooks.urlpatterns,
]
