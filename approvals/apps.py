from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals.services import approval_hold, approval_preview  # lazy: imports models
        from jobs.holds import register_hold  # lazy: with the hold it registers

        register_hold("approvals", approval_hold, approval_preview)
