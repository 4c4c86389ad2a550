from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from jobs.models import Task  # lazy: needs the app registry ready
        from jobs.signals import task_changed  # lazy: with the receivers
        from notifications.handlers import register_handlers  # lazy: needs the app registry
        from notifications.task_events import (  # lazy: imports models
            forget_deleted_task,
            on_task_changed,
        )

        register_handlers()
        task_changed.connect(on_task_changed, dispatch_uid="notifications.task_changed")
        post_delete.connect(forget_deleted_task, sender=Task, dispatch_uid="notifications.del")
