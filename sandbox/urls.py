from django.urls import path, re_path

from sandbox import api, control, files, views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("files/<str:token>/<str:filename>", files.file_download, name="file"),
    path("api/_control/faults", control.faults, name="control_faults"),
    path("api/_control/reset", control.reset, name="control_reset"),
    path("api/_control/requests", control.requests_received, name="control_requests"),
    path("api/_control/echo", control.echo, name="control_echo"),
    path("api/assets", api.assets, name="assets"),
    path("api/tasks", api.tasks, name="tasks"),
    path("api/tasks/statistics", api.statistics, name="statistics"),
    path("api/tasks/<str:task_id>", api.task_detail, name="task"),
    path("api/models", api.models, name="models"),
    re_path(r"^api/(?P<rest>.*)$", api.not_found, name="not_found"),
]
