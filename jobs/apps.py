from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "AudioShake work"

    def ready(self) -> None:
        from jobs.handlers import register_handlers  # lazy: needs the app registry ready

        register_handlers()
