from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, pre_delete

        from costs.handlers import register_handlers  # lazy: needs the app registry ready
        from costs.rollup import (  # lazy: imports models
            rollup_after_task_delete,
            rollup_before_task_delete,
            rollup_on_task_changed,
        )
        from jobs.models import Task  # lazy: needs the app registry ready
        from jobs.signals import task_changed  # lazy: with the other receivers

        register_handlers()
        task_changed.connect(rollup_on_task_changed, dispatch_uid="costs.rollup.changed")
        pre_delete.connect(rollup_before_task_delete, sender=Task, dispatch_uid="costs.rollup.pre")
        post_delete.connect(rollup_after_task_delete, sender=Task, dispatch_uid="costs.rollup.del")
