from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs"

    def ready(self) -> None:
        from costs.handlers import register_handlers  # lazy: needs the app registry ready

        register_handlers()
