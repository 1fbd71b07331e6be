"""The Django admin for rollouts, policies and notifications. Edits made here land in the
audit log (core.audit_log) like edits made on the product's own pages."""

from django.contrib import admin

from core.admin import AuditedAdmin as CoreAuditedAdmin
from reboots.forms import PolicyAdminForm
from reboots.models import Notification, RebootAttempt, RebootPolicy, Rollout, Wave


class AuditedAdmin(CoreAuditedAdmin):
    """Admin edits recorded in the audit log; an edited rollout's event links to it."""

    def audit_extra(self, obj, verb: str) -> dict:
        return {"rollout": obj} if isinstance(obj, Rollout) and verb != "deleted" else {}


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
