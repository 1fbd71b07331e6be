from django.apps import AppConfig


class RebootsConfig(AppConfig):
    name = "reboots"
    verbose_name = "Reboots"

    def ready(self) -> None:
        # Models are loaded only now. Importing retention registers the app's rules; the fleet
        # app asks about open attempts (inventory changes) through its open_work port.
        from fleet import open_work
        from reboots import retention  # noqa: F401
        from reboots.open_work import OpenAttempts

        open_work.register(OpenAttempts())
