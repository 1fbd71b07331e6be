"""The Django admin for rollouts, policies and notifications. Edits made here land in the
audit log (core.audit_log) like edits made on the product's own pages."""

from django.contrib import admin

from core.audit_log import record
from reboots.forms import PolicyAdminForm
from reboots.models import Notification, RebootAttempt, RebootPolicy, Rollout, Wave


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete through this admin is also an event: `<noun>.created`,
    `<noun>.changed` (with the fields Django lists), `<noun>.deleted`, marked `via: admin`.

    Django's own LogEntry stays too, but only the Django admin shows it; the audit log is where
    operators and reports look."""

    audit_noun = ""

    def _audit(self, request, verb: str, obj, message: str) -> None:
        detail = f"in the Django admin: {message}" if message else "in the Django admin"
        extra = {"rollout": obj} if isinstance(obj, Rollout) and verb != "deleted" else {}
        data = {"via": "admin", "change": message}
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


@admin.register(RebootPolicy)
class RebootPolicyAdmin(AuditedAdmin):
    audit_noun = "policy"
    form = PolicyAdminForm
    list_display = ["name", "canary_size", "batch_size", "approval_mode", "failure_budget"]
    search_fields = ["name"]


class WaveInline(admin.TabularInline):
    model = Wave
    extra = 0
    fields = ["index", "is_canary", "state", "approved_by", "approved_at", "soak_until"]
    readonly_fields = fields
    can_delete = False


@admin.register(Rollout)
class RolloutAdmin(AuditedAdmin):
    audit_noun = "rollout"
    list_display = ["id", "name", "state", "created_by", "created_at"]
    list_filter = ["state"]
    search_fields = ["name"]
    inlines = [WaveInline]
    # State moves through the engine and operators' actions only; who made a rollout is a
    # record (the two-person rule reads it), not something to edit.
    readonly_fields = [
        "state",
        "policy_snapshot",
        "pause_kind",
        "pause_reason",
        "waiting_reason",
        "created_by",
        "created_at",
    ]


@admin.register(RebootAttempt)
class RebootAttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "host", "rollout", "state", "tries", "updated_at"]
    list_filter = ["state"]
    search_fields = ["host__name"]
    list_select_related = ["host", "rollout"]
    readonly_fields = [f.name for f in RebootAttempt._meta.fields]


@admin.register(Notification)
class NotificationAdmin(AuditedAdmin):
    audit_noun = "notification"
    list_display = ["created_at", "kind", "url", "state", "tries"]
    list_filter = ["state", "kind"]
