"""The Reports page: reboot compliance over time, uptime, live-patch age, rollout outcomes."""
