from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor every app builds on: audit log, clock, roles, page helpers, retention."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Importing the module registers the has_label JSON lookup on JSONField.
        from core import lookups, retention  # noqa: F401  (retention: the audit log's rule)
