from django.apps import AppConfig


class ListeningConfig(AppConfig):
    name = "listening"
    verbose_name = "Listening: mixes and ratings"

    def ready(self) -> None:
        from listening.handlers import register_handlers  # lazy: needs the app registry ready

        register_handlers()
