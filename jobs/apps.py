from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "AudioShake work"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from jobs.handlers import register_handlers  # lazy: needs the app registry ready
        from jobs.models import Target, Task  # lazy: needs the app registry ready
        from jobs.progress import recount_on_delete, recount_on_save  # lazy: imports models

        register_handlers()
        post_save.connect(recount_on_save, sender=Task, dispatch_uid="jobs.progress.task")
        post_save.connect(recount_on_save, sender=Target, dispatch_uid="jobs.progress.target")
        post_delete.connect(recount_on_delete, sender=Target, dispatch_uid="jobs.progress.del")
