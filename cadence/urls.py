from django.urls import path

from cadence.views import freezes, gates, partials, schedules

app_name = "cadence"

urlpatterns = [
    path("", schedules.schedule_list, name="schedules"),
    path("schedules/new/", schedules.schedule_edit, name="schedule-new"),
    path("schedules/<int:pk>/", schedules.schedule_detail, name="schedule"),
    path("schedules/<int:pk>/edit/", schedules.schedule_edit, name="schedule-edit"),
    path("schedules/<int:pk>/run/", schedules.schedule_run, name="schedule-run"),
    path("freezes/", freezes.freeze_list, name="freezes"),
    path("freezes/<int:pk>/delete/", freezes.freeze_delete, name="freeze-delete"),
    path("gates/", gates.gate_list, name="gates"),
    path("gates/new/", gates.gate_edit, name="gate-new"),
    path("gates/<int:pk>/edit/", gates.gate_edit, name="gate-edit"),
    path("gates/<int:pk>/check/", gates.gate_check, name="gate-check"),
    path("debt/", partials.debt_panel, name="debt"),
    path("rollouts/<int:pk>/gates/", partials.rollout_gates, name="rollout-gates"),
    path("rollouts/<int:pk>/freeze-override/", freezes.freeze_override, name="freeze-override"),
]
