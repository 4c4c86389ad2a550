from jobs.views import assets, dashboard, results, tasks, webhooks

app_name = "jobs"

urlpatterns = [
    *dashboard.urlpatterns,
    *assets.urlpatterns,
    *results.urlpatterns,
    *tasks.urlpatterns,
    *webhooks.urlpatterns,
]
