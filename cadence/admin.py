from django.contrib import admin

from cadence.models import AlertSilence, FreezePeriod, Gate, GateState, RebootSchedule


@admin.register(RebootSchedule)
class RebootScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "policy", "max_uptime_days", "pace_per_window", "enabled", "status")
    list_filter = ("enabled",)


@admin.register(FreezePeriod)
class FreezePeriodAdmin(admin.ModelAdmin):
    list_display = ("reason", "schedule", "starts_at", "ends_at")


@admin.register(Gate)
class GateAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "url", "enabled", "policy", "schedule")


@admin.register(GateState)
class GateStateAdmin(admin.ModelAdmin):
    list_display = ("gate", "subject", "is_open", "checked_at", "reason")
    readonly_fields = ("gate", "subject", "is_open", "reason", "detail", "checked_at", "changed_at")


@admin.register(AlertSilence)
class AlertSilenceAdmin(admin.ModelAdmin):
    list_display = ("host_name", "gate", "silence_id", "ends_at", "expired_at", "error")
