"""Move DRF `authtoken` tokens (plain keys) into ApiToken (hashes), and erase the plain keys.

`rest_framework.authtoken` is no longer installed, so its table is read with SQL when it is
there (databases made before this change); its rows are deleted, the empty table is left for
whoever removes it (re-adding the app later would expect its migrations' table to exist).
Existing clients keep working: the same key now matches by its hash.
"""

import hashlib
from datetime import UTC, datetime

from django.db import migrations
from django.utils.dateparse import parse_datetime

TABLE = "authtoken_token"


def _aware(value) -> datetime | None:
    # SQLite hands raw SQL a string, PostgreSQL an aware datetime.
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def hash_existing(apps, schema_editor):
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("api", "ApiToken")
    q = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {q('key')}, {q('user_id')}, {q('created')} FROM {q(TABLE)}")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        ApiToken.objects.update_or_create(
            user_id=user_id,
            defaults={
                "prefix": key[:8],
                "key_hash": hashlib.sha256(key.encode()).hexdigest(),
                "created_at": _aware(created) or datetime.now(UTC),
            },
        )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {q(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("api", "0001_api_tokens")]

    # Not reversible: the plain keys are gone, which is the point.
    operations = [migrations.RunPython(hash_existing, migrations.RunPython.noop, elidable=True)]
