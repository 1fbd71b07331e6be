"""Create the viewer, operator and admin groups with their permissions.

Permissions are created here (not left to post_migrate) so the groups are complete as soon as
this migration runs. Later apps extend the groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_MODELS = [("fleet", m) for m in ("host", "redundancygroup", "audit", "finding", "bootrecord")]
ADMIN_MODELS = [("fleet", "host"), ("fleet", "redundancygroup")]


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perm(app_label, codename):
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    view = [perm(app, f"view_{model}") for app, model in VIEW_MODELS]
    operate = [perm("fleet", "operate_fleet")]
    administer = [perm("fleet", "administer_fleet")] + [
        perm(app, f"{action}_{model}")
        for app, model in ADMIN_MODELS
        for action in ("add", "change", "delete")
    ]
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    operator, _ = Group.objects.get_or_create(name="operator")
    operator.permissions.add(*view, *operate)
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*view, *operate, *administer)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["viewer", "operator", "admin"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
