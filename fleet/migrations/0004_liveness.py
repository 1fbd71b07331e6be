from django.db import migrations, models


def reachable_to_liveness(apps, schema_editor):
    """Hosts keep what the last audit saw: reachable → up, unreachable → down."""
    Host = apps.get_model("fleet", "Host")
    Host.objects.filter(reachable=True).update(liveness="up", liveness_reason="seen up at an audit")
    Host.objects.filter(reachable=False).update(
        liveness="down", liveness_reason="unreachable at an audit"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0003_group_bastion"),
    ]

    operations = [
        migrations.AddField(
            model_name="host",
            name="down_boot_id",
            field=models.CharField(
                blank=True,
                help_text="While down: the boot the host must be seen past to count as up again (empty: any answer over SSH).",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="host",
            name="liveness",
            field=models.CharField(
                choices=[("up", "Up"), ("down", "Down"), ("unknown", "Unknown")],
                db_index=True,
                default="unknown",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="host",
            name="liveness_reason",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="host",
            name="liveness_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(reachable_to_liveness, migrations.RunPython.noop),
        migrations.RemoveField(model_name="host", name="reachable"),
    ]
