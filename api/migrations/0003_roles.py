"""The admin role may see, change (the expiry) and delete API tokens in the Django admin, as it
does on the API tokens page; nobody adds one there (a key is shown once, where it is made). It
may also see and delete django-axes' failed-login records: deleting one lifts a lockout."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "api": [f"{action}_apitoken" for action in ("view", "change", "delete")],
    "axes": ["view_accessattempt", "delete_accessattempt"],
}


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="admin")
    for label, codenames in GRANTS.items():
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        perms = Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
        group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for label, codenames in GRANTS.items():
        perms = Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
        for group in Group.objects.filter(name="admin"):
            group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_hash_existing_tokens"),
        ("axes", "0010_accessattemptexpiration"),
        ("fleet", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
