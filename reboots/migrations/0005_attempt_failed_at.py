from django.db import migrations, models


def record_failures_and_down_hosts(apps, schema_editor):
    """Failed attempts keep when they failed; hosts mid-reboot or failed are down."""
    Attempt = apps.get_model("reboots", "RebootAttempt")
    Host = apps.get_model("fleet", "Host")
    for attempt in Attempt.objects.filter(state="failed").only("pk", "ended_at"):
        Attempt.objects.filter(pk=attempt.pk).update(failed_at=attempt.ended_at)
    for attempt in Attempt.objects.filter(state__in=["rebooting", "down", "verifying", "failed"]):
        Host.objects.filter(pk=attempt.host_id).update(
            liveness="down",
            liveness_since=attempt.rebooting_at or attempt.ended_at,
            liveness_reason=f"{attempt.state} in rollout #{attempt.rollout_id}",
            down_boot_id=attempt.boot_id_before if attempt.state != "failed" else "",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0004_liveness"),
        ("reboots", "0004_https_url_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="rebootattempt",
            name="failed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When it failed; kept when the host is skipped after.",
                null=True,
            ),
        ),
        migrations.RunPython(record_failures_and_down_hosts, migrations.RunPython.noop),
    ]
