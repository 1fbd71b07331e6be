from django.apps import AppConfig


class RebootsConfig(AppConfig):
    name = "reboots"
    verbose_name = "Reboots"
