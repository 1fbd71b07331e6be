"""`labels__has_label="k=v"`: membership in a JSON list of strings, on PostgreSQL and SQLite.

Django's JSONField `contains` lookup is not available on SQLite, so this lookup emits the
vendor's own JSON membership test.
"""

import json

from django.db.models import JSONField, Lookup


@JSONField.register_lookup
class HasLabel(Lookup):
    lookup_name = "has_label"
    prepare_rhs = False

    def get_prep_lookup(self):
        return str(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        value = str(self.rhs)
        if connection.vendor == "postgresql":
            return f"({lhs})::jsonb @> %s::jsonb", [*lhs_params, json.dumps([value])]
        if connection.vendor == "sqlite":
            return (
                f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = %s)",
                [*lhs_params, value],
            )
        raise NotImplementedError(f"has_label is not implemented for {connection.vendor}")
