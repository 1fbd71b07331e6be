from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # Models are loaded only now: importing the module registers the rollup's retention.
        from reports import retention  # noqa: F401
