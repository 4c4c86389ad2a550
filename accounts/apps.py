from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Team and projects"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.sessions import session_start  # lazy: imports models, app registry not ready

        def started(sender: object, request: object, **kwargs: object) -> None:
            if request is not None and hasattr(request, "session"):
                session_start(request)

        user_logged_in.connect(started, dispatch_uid="accounts.session_start", weak=False)
