"""The audit log (Event) moves to the core app: the table is renamed, no row is touched.

core.0001 takes the model over in Django's state; this migration only lets go of it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("reboots", "0007_attempt_keeps_host_name")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable(name="event", table="core_event")],
            state_operations=[migrations.DeleteModel(name="event")],
        )
    ]
