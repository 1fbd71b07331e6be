from django.urls import path

from reboots.views import (
    host_history,
    policies,
    rollout_actions,
    rollout_detail,
    rollout_list,
    rollout_new,
)

app_name = "reboots"

urlpatterns = [
    path("", rollout_list.index, name="list"),
    path("pause-all/", rollout_list.pause_all, name="pause-all"),
    path("resume-all/", rollout_list.resume_all, name="resume-all"),
    path("new/", rollout_new.new, name="new"),
    path("policies/", policies.policy_list, name="policies"),
    path("policies/new/", policies.policy_edit, name="policy-new"),
    path("policies/<int:pk>/edit/", policies.policy_edit, name="policy-edit"),
    path("hosts/<hostname:name>/history/", host_history.panel, name="host-history"),
    path("<int:pk>/", rollout_detail.detail, name="detail"),
    path("<int:pk>/start/", rollout_actions.start, name="start"),
    path("<int:pk>/pause/", rollout_actions.pause, name="pause"),
    path("<int:pk>/resume/", rollout_actions.resume, name="resume"),
    path("<int:pk>/abort/", rollout_actions.abort, name="abort"),
    path("<int:pk>/override-window/", rollout_actions.override_window, name="override-window"),
    path("<int:pk>/waves/<int:wave_pk>/approve/", rollout_actions.approve, name="approve"),
    path("<int:pk>/hosts/<int:attempt_pk>/", rollout_detail.attempt_detail, name="attempt"),
    path("<int:pk>/hosts/<int:attempt_pk>/retry/", rollout_actions.retry, name="retry"),
    path("<int:pk>/hosts/<int:attempt_pk>/skip/", rollout_actions.skip, name="skip"),
]
