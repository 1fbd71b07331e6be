"""A rollout's frozen copy of its policy, and typed access to it.

The snapshot is taken when the rollout is created, so editing a policy never changes a rollout
already planned or running.
"""

from dataclasses import dataclass, field

from reboots.policy_fields import normalise_command

SNAPSHOT_VERSION = 1


def policy_snapshot(policy) -> dict:
    def command(text: str, where: str, timeout: int, name: str) -> dict | None:
        if not text.strip():
            return None
        return normalise_command(
            {"command": text, "where": where, "timeout": timeout, "name": name}, name
        )

    return {
        "version": SNAPSHOT_VERSION,
        "policy_id": policy.pk,
        "name": policy.name,
        "canary_size": policy.canary_size,
        "batch_size": policy.batch_size,
        "soak_seconds": policy.soak_seconds,
        "boot_timeout_seconds": policy.boot_timeout_seconds,
        "settle_timeout_seconds": policy.settle_timeout_seconds,
        "failure_budget": policy.failure_budget,
        "approval_mode": policy.approval_mode,
        "creator_cannot_approve": policy.creator_cannot_approve,
        "change_windows": list(policy.change_windows or []),
        "time_zone": policy.time_zone,
        "reboot_command": policy.reboot_command,
        "pre_command": command(
            policy.pre_command, policy.pre_command_where, policy.pre_command_timeout, "pre-command"
        ),
        "post_command": command(
            policy.post_command,
            policy.post_command_where,
            policy.post_command_timeout,
            "post-command",
        ),
        "health_commands": [
            normalise_command(spec, f"health command {n}")
            for n, spec in enumerate(policy.health_commands or [], 1)
        ],
        "drain_hosts": policy.drain_hosts,
        "service_budget_pct": policy.service_budget_pct,
        "webhook_url": policy.webhook_url,
    }


@dataclass(frozen=True)
class Policy:
    """The snapshot as attributes (what the engine and host operations read)."""

    name: str = ""
    canary_size: int = 1
    batch_size: str = "10%"
    soak_seconds: int = 600
    boot_timeout_seconds: int = 900
    settle_timeout_seconds: int = 180
    failure_budget: int = 0
    approval_mode: str = "none"
    creator_cannot_approve: bool = False
    change_windows: list = field(default_factory=list)
    time_zone: str = "UTC"
    reboot_command: str = "sudo -n systemctl reboot"
    pre_command: dict | None = None
    post_command: dict | None = None
    health_commands: list = field(default_factory=list)
    drain_hosts: bool = True
    service_budget_pct: float | None = None  # snapshots before it existed: no service budget
    webhook_url: str = ""

    @classmethod
    def of(cls, rollout) -> "Policy":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (rollout.policy_snapshot or {}).items() if k in known})
