"""Host.reboot_basis: what the reboot answer reads of the facts, kept beside them for lists."""

from django.db import migrations, models

from fleet import basis

BATCH = 500


def fill(apps, schema_editor):
    Host = apps.get_model("fleet", "Host")
    hosts = Host.objects.only("facts").order_by("pk").iterator(chunk_size=BATCH)
    batch = []
    for host in hosts:
        host.reboot_basis = basis.reboot_subset(host.facts or {})
        batch.append(host)
        if len(batch) == BATCH:
            Host.objects.bulk_update(batch, ["reboot_basis"])
            batch.clear()
    if batch:
        Host.objects.bulk_update(batch, ["reboot_basis"])


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0005_host_name_validators"),
    ]

    operations = [
        migrations.AddField(
            model_name="host",
            name="reboot_basis",
            field=models.JSONField(
                blank=True,
                default=dict,
                db_default=models.Value({}, output_field=models.JSONField()),
                editable=False,
                help_text="What the reboot answer reads of the facts (fleet.basis.reboot_subset), "
                "written with them.",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
