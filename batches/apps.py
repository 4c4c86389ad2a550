from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from batches.notify import on_task_changed, quiet_batch_tasks  # lazy: imports models
        from jobs.signals import task_changed  # lazy: with the receivers
        from notifications.task_events import register_quiet  # lazy: with the receivers

        register_quiet("batches", quiet_batch_tasks)
        task_changed.connect(on_task_changed, dispatch_uid="batches.task_changed")
