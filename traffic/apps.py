from django.apps import AppConfig


class TrafficConfig(AppConfig):
    """Draining hosts from their load balancer and watching the service they provide."""

    name = "traffic"
    verbose_name = "Traffic"
