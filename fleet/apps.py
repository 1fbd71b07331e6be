from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Fleet"

    def ready(self) -> None:
        # Models are loaded only now: importing the module registers the app's retention rules.
        from fleet import retention  # noqa: F401
