from django.apps import AppConfig


class ShakewebConfig(AppConfig):
    """The project itself, as an app only to register its system checks."""

    name = "shakeweb"
    verbose_name = "shakeweb"

    def ready(self) -> None:
        from shakeweb import checks  # noqa: F401  # lazy: registering checks needs the app registry
