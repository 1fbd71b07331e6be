"""The audit log in the Django admin (read-only, since events are append-only), and the admin
base class whose edits land in it."""

from django.contrib import admin

from core.audit_log import record
from core.models import Event


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete through this admin is also an event: `<noun>.created`,
    `<noun>.changed` (with the fields Django lists), `<noun>.deleted`, marked `via: admin`.

    Django's own LogEntry stays too, but only the Django admin shows it; the audit log is where
    operators and reports look. `audit_extra` adds an app's own links (a rollout) to the event."""

    audit_noun = ""

    def audit_extra(self, obj, verb: str) -> dict:
        return {}

    def _audit(self, request, verb: str, obj, message: str) -> None:
        detail = f"in the Django admin: {message}" if message else "in the Django admin"
        data = {"via": "admin", "change": message}
        extra = self.audit_extra(obj, verb)
        record(request.user, f"{self.audit_noun}.{verb}", obj, detail, data=data, **extra)

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, "created", obj, entry.get_change_message())
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, "changed", obj, entry.get_change_message() or "No fields changed.")
        return entry

    def log_deletions(self, request, queryset):
        # Called before the rows go, once for a single delete and for the bulk action alike.
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            self._audit(request, "deleted", obj, f"Deleted {obj}.")
        return entries


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "verb", "target_label", "host"]
    list_filter = ["verb"]
    search_fields = ["target_label", "detail"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
