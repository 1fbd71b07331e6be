from django.apps import AppConfig


class TrafficConfig(AppConfig):
    """Draining hosts from their load balancer and watching the service they provide."""

    name = "traffic"
    verbose_name = "Traffic"

    def ready(self) -> None:
        # Models are loaded only now: importing the module registers the app's retention rule.
        from traffic import retention  # noqa: F401
