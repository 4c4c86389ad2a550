from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from jobs.signals import task_changed  # lazy: with the receiver
        from notifications.handlers import register_handlers  # lazy: needs the app registry
        from notifications.task_events import on_task_changed  # lazy: imports models

        register_handlers()
        task_changed.connect(on_task_changed, dispatch_uid="notifications.task_changed")
