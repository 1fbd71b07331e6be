"""Traffic managers and service checks in the Django admin; edits land in the audit log."""

from django.contrib import admin

from core.admin import AuditedAdmin
from traffic.models import CheckMinute, DrainRecord, ServiceCheck, TrafficManager


@admin.register(TrafficManager)
class TrafficManagerAdmin(AuditedAdmin):
    audit_noun = "traffic_manager"
    list_display = ("group", "kind", "enabled", "drain_timeout_seconds", "on_drain_timeout")
    list_filter = ("kind", "enabled")


@admin.register(ServiceCheck)
class ServiceCheckAdmin(AuditedAdmin):
    audit_noun = "service_check"
    list_display = ("name", "group", "kind", "target", "interval_seconds", "active")
    list_filter = ("kind", "active")


@admin.register(DrainRecord)
class DrainRecordAdmin(admin.ModelAdmin):
    list_display = ("host", "manager", "state", "changed_at", "detail")
    list_filter = ("state",)
    readonly_fields = ("host", "manager", "state", "changed_at", "detail")

    def has_add_permission(self, request):
        return False


@admin.register(CheckMinute)
class CheckMinuteAdmin(admin.ModelAdmin):
    list_display = ("service_check", "minute", "probes", "failures", "longest_failing_streak")
    readonly_fields = [f.name for f in CheckMinute._meta.fields]

    def has_add_permission(self, request):
        return False
