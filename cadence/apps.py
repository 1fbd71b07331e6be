from django.apps import AppConfig


class CadenceConfig(AppConfig):
    name = "cadence"
    verbose_name = "Reboot cadence"

    def ready(self) -> None:
        # Models are loaded only now: importing the module registers the app's retention rules.
        # fleet owns the uptime-limit rule but may not import cadence: schedules join it here
        # (imported now for the same reason: due.py imports models).
        from cadence import (
            due,
            retention,  # noqa: F401
        )
        from cadence.hooks import CadenceGates
        from fleet import limits
        from reboots import ports

        limits.register(due.schedule_limits)
        # reboots declares the outside-gates port and may not import cadence: fill it here.
        ports.register_gates(CadenceGates())
