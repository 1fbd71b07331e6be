"""The rollout app's answer to fleet.open_work: open reboot attempts on hosts and groups."""

from __future__ import annotations

from collections.abc import Sequence

from reboots.models import RebootAttempt


class OpenAttempts:
    def on_hosts(self, host_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        return list(
            RebootAttempt.objects.filter(
                host_id__in=host_ids, state__in=RebootAttempt.OPEN_STATES
            ).values_list("host__name", "rollout_id", "state")
        )

    def in_groups(self, group_names: Sequence[str]) -> list[tuple[str, int]]:
        return list(
            RebootAttempt.objects.filter(
                state__in=RebootAttempt.OPEN_STATES, host__groups__name__in=list(group_names)
            ).values_list("host__groups__name", "rollout_id")
        )
