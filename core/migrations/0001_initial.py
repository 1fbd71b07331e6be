"""The audit log, taken over from reboots (its table renamed there, rows and ids kept).

Only Django's state is created here; the database work is the index's new name and the content
type's new app, so admin log entries and role permissions on events follow the move.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

OLD_INDEX = "reboots_eve_rollout_1b3b23_idx"
NEW_INDEX = "core_event_rollout_at_idx"


def _rename_index(apps, schema_editor, old: str, new: str) -> None:
    event = apps.get_model("core", "Event")
    fields = ["rollout", "-at"]
    schema_editor.rename_index(
        event, models.Index(fields=fields, name=old), models.Index(fields=fields, name=new)
    )


def forwards(apps, schema_editor):
    _rename_index(apps, schema_editor, OLD_INDEX, NEW_INDEX)
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.using(schema_editor.connection.alias).filter(
        app_label="reboots", model="event"
    ).update(app_label="core")


def backwards(apps, schema_editor):
    _rename_index(apps, schema_editor, NEW_INDEX, OLD_INDEX)
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.using(schema_editor.connection.alias).filter(
        app_label="core", model="event"
    ).update(app_label="reboots")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("fleet", "0005_host_name_validators"),
        ("reboots", "0008_event_moves_to_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                        ("actor_name", models.CharField(default="system", max_length=150)),
                        ("verb", models.CharField(db_index=True, max_length=60)),
                        ("target_type", models.CharField(blank=True, max_length=40)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("target_label", models.CharField(blank=True, max_length=300)),
                        ("detail", models.TextField(blank=True)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "host",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="events",
                                to="fleet.host",
                            ),
                        ),
                        (
                            "rollout",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="events",
                                to="reboots.rollout",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-at", "-id"],
                        "indexes": [models.Index(fields=["rollout", "-at"], name=NEW_INDEX)],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
