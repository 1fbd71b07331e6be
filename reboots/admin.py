from django.contrib import admin

from reboots.models import Event, Notification, RebootAttempt, RebootPolicy, Rollout, Wave


@admin.register(RebootPolicy)
class RebootPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "canary_size", "batch_size", "approval_mode", "failure_budget"]
    search_fields = ["name"]


class WaveInline(admin.TabularInline):
    model = Wave
    extra = 0
    fields = ["index", "is_canary", "state", "approved_by", "approved_at", "soak_until"]
    readonly_fields = fields
    can_delete = False


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "state", "created_by", "created_at"]
    list_filter = ["state"]
    search_fields = ["name"]
    inlines = [WaveInline]
    # State moves through the engine and operators' actions only.
    readonly_fields = ["state", "policy_snapshot", "pause_kind", "pause_reason", "waiting_reason"]


@admin.register(RebootAttempt)
class RebootAttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "host", "rollout", "state", "tries", "updated_at"]
    list_filter = ["state"]
    search_fields = ["host__name"]
    list_select_related = ["host", "rollout"]
    readonly_fields = [f.name for f in RebootAttempt._meta.fields]


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


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "url", "state", "tries"]
    list_filter = ["state", "kind"]
