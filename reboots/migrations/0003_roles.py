"""Give the roles their permissions on the rollout models.

viewer (and so operator and admin) may view every rollout model; admin may also add, change and
delete reboot policies. Acting on rollouts is the operator's `fleet.operate_fleet` permission.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_MODELS = ("rebootpolicy", "rollout", "wave", "rebootattempt", "event", "notification")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("reboots")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perm(codename):
        return Permission.objects.get(content_type__app_label="reboots", codename=codename)

    # Re-run on today's state by the tests, the audit log (event) has moved to core since.
    present = {model._meta.model_name for model in app_config.get_models()}
    view = [perm(f"view_{model}") for model in VIEW_MODELS if model in present]
    edit_policies = [perm(f"{action}_rebootpolicy") for action in ("add", "change", "delete")]
    for name in ("viewer", "operator", "admin"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)
        if name == "admin":
            group.permissions.add(*edit_policies)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    perms = Permission.objects.filter(content_type__app_label="reboots")
    for group in Group.objects.filter(name__in=["viewer", "operator", "admin"]):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("reboots", "0002_rollouts"),
        ("fleet", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
