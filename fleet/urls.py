from django.urls import path

from fleet.views import drift, fleet, host, inventory

app_name = "fleet"

urlpatterns = [
    path("", fleet.index, name="index"),
    path("audit/", fleet.audit, name="audit"),
    path("hosts/<hostname:name>/", host.host_detail, name="host"),
    path("hosts/<hostname:name>/audit/", host.host_audit, name="host-audit"),
    path("hosts/<hostname:name>/accept-key/", host.accept_key, name="host-accept-key"),
    path("hosts/<hostname:name>/mark-up/", host.mark_up, name="host-mark-up"),
    path("drift/", drift.drift, name="drift"),
    path("findings/bulk/", drift.bulk, name="findings-bulk"),
    path("findings/<int:pk>/acknowledge/", drift.acknowledge, name="finding-acknowledge"),
    path("findings/<int:pk>/unacknowledge/", drift.unacknowledge, name="finding-unacknowledge"),
    path("admin-tools/inventory/", inventory.upload, name="inventory-upload"),
]
