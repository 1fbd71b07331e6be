"""The demo's opening scene, set on a registered and audited (simulated) fleet.

A new user should find, within a minute of logging in: a fleet of several distributions, a few
hosts that need a reboot and why, drift on some, a live-patched host, and a rollout whose canary
has already been rebooted and verified and whose next wave waits for an operator's Approve; and
the policies the README's walkthrough names (`POLICIES`), one of them for planning their own.

`prepare()` is idempotent: an unfinished demo rollout is reused (driven on to its approval gate if
it stopped short of it); a new one is planned only when none is left. Its policies drain hosts
through their group's traffic manager (the demo's HAProxy, lab/demo_front.py, when installed);
while it drives the canary, before the demo's beat runs, it samples the service checks as beat
does, since a group's hosts wait for a recent passing result (traffic/health.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef

from fleet.findings import blocking_findings
from fleet.models import Finding, Host
from reboots import actions, selection
from reboots.models import ApprovalMode, RebootAttempt, RebootPolicy, Rollout, Wave
from reboots.runner import drive
from traffic import sampling
from traffic.models import ServiceCheck

log = logging.getLogger(__name__)

POLICY_NAME = "Demo: canary, then approval"
# The README's step 5: a rollout on one redundancy group that pauses at its first failed host.
NO_FAILURES_POLICY_NAME = "Demo: no failures tolerated"
ROLLOUT_NAME = "Kernel updates (demo)"
# When an earlier demo already rebooted every host that needed it, the demo reboots the hosts
# up longest instead, as a regular rolling reboot does.
ROLLING_NAME = "Rolling reboot (demo)"
MAX_HOSTS = 13  # a canary and three waves of four: waves go by within a minute
MIN_HOSTS = 2  # a canary and at least one wave to approve
DEMO_OPERATOR = "operator"  # the demo account `manage.py demo` creates
SAMPLE_WINDOW = 2.0  # seconds per sampler run while the canary is driven here

POLICY = {
    "description": "Short soak and boot timeout for the simulated fleet; approve after the canary.",
    "canary_size": 1,
    "batch_size": "4",
    "soak_seconds": 5,
    "boot_timeout_seconds": 60,
    "settle_timeout_seconds": 60,
    "failure_budget": 1,
    "approval_mode": ApprovalMode.AFTER_CANARY,
    "drain_hosts": True,
}
NO_FAILURES_POLICY = {
    "description": "One failed host pauses the rollout; no approval needed between waves.",
    "canary_size": 1,
    "batch_size": "4",
    "soak_seconds": 5,
    # Simulated boots take 2–10 s at the demo's time scale: a lost host fails within a minute.
    "boot_timeout_seconds": 30,
    "settle_timeout_seconds": 60,
    "failure_budget": 0,
    "approval_mode": ApprovalMode.NONE,
    "drain_hosts": True,
}
# Every policy the demo creates, by name: the README's walkthrough names these and no other.
POLICIES = {POLICY_NAME: POLICY, NO_FAILURES_POLICY_NAME: NO_FAILURES_POLICY}


class DemoStoryError(Exception):
    """The scene cannot be set; the message says what is missing."""


@dataclass
class Story:
    rollout: Rollout
    created: bool
    canary: list[str]
    awaiting: list[str]
    kept_livepatched: str | None = None
    notes: list[str] = field(default_factory=list)


def ensure_policies() -> dict[str, RebootPolicy]:
    """Create (or reset) the demo's policies; name → policy."""
    return {
        name: RebootPolicy.objects.update_or_create(name=name, defaults=values)[0]
        for name, values in POLICIES.items()
    }


def ensure_policy() -> RebootPolicy:
    """The policy of the demo rollout (the others are created beside it)."""
    return ensure_policies()[POLICY_NAME]


def unfinished_demo_rollout() -> Rollout | None:
    return (
        Rollout.objects.filter(name__in=[ROLLOUT_NAME, ROLLING_NAME])
        .exclude(state__in=Rollout.ENDED_STATES)
        .order_by("-created_at", "-pk")
        .first()
    )


def rebootable_now(host: Host) -> bool:
    """Audited, reachable, trusted and held by no finding: a reboot that should just work."""
    return (
        host.enabled
        and host.reachable is True
        and host.host_key_state == Host.KeyState.PINNED
        and not blocking_findings(host).exists()
    )


def choose_hosts(limit: int = MAX_HOSTS) -> tuple[list[Host], Host | None]:
    """Hosts for the demo rollout, and the live-patched host kept out of it for people to see.

    The hosts that need a reboot, or, when too few do (a fleet an earlier demo rebooted), the
    healthy hosts up longest.
    """
    busy = RebootAttempt.objects.filter(host=OuterRef("pk"), state__in=RebootAttempt.OPEN_STATES)
    needing = list(
        selection.hosts({"kind": "needs-reboot"}).annotate(busy=Exists(busy)).filter(busy=False)
    )
    kept = next((h for h in needing if h.livepatch_state == "applied"), None)
    chosen = [h for h in needing if h != kept and rebootable_now(h)][:limit]
    if len(chosen) < MIN_HOSTS:
        longest_up = (
            Host.objects.filter(enabled=True, booted_at__isnull=False)
            .annotate(busy=Exists(busy))
            .filter(busy=False)
            .order_by("booted_at")
        )
        if kept is not None:
            longest_up = longest_up.exclude(pk=kept.pk)
        chosen = [h for h in longest_up[: limit * 3] if rebootable_now(h)][: min(limit, 5)]
    return sorted(chosen, key=lambda h: h.name), kept


def planned_hosts() -> list[Host]:
    """The hosts of the demo rollout: the unfinished one's, else those `prepare` would plan."""
    rollout = unfinished_demo_rollout()
    if rollout is None:
        return choose_hosts()[0]
    return list(Host.objects.filter(reboot_attempts__rollout=rollout).distinct())


@contextlib.contextmanager
def sampling_meanwhile(window: float = SAMPLE_WINDOW) -> Iterator[None]:
    """Run the service-check sampler (traffic/sampling.py) in a thread while the block runs."""
    if not ServiceCheck.objects.exists():
        yield
        return
    stopping = threading.Event()

    def run() -> None:
        try:
            while not stopping.is_set():
                try:
                    sampling.sample(window)
                except Exception:  # one failed run (a locked SQLite) must not end the others
                    log.exception("demo: a service-check sampler run failed")
                    stopping.wait(1.0)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="demo-sampler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=window + 30)


def reached_approval(rollout: Rollout) -> bool:
    """The canary is done and a later wave waits for approval (or the rollout stopped)."""
    rollout.refresh_from_db()
    if rollout.state != Rollout.State.RUNNING:
        return True
    return rollout.waves.filter(state=Wave.State.AWAITING_APPROVAL).exists()


def prepare(
    *,
    interval: float = 0.5,
    timeout: float = 300.0,
    say: Callable[[str], None] = lambda text: None,
) -> Story:
    """Set the scene (see the module docstring); raise DemoStoryError when it cannot be set."""
    if not Host.objects.filter(liveness=Host.Liveness.UP).exists():
        raise DemoStoryError("no audited, reachable host: start and audit the lab first")
    policy = ensure_policy()
    rollout = unfinished_demo_rollout()
    created = rollout is None
    kept = None
    if created:
        hosts, kept = choose_hosts()
        if len(hosts) < MIN_HOSTS:
            raise DemoStoryError(
                f"only {len(hosts)} host(s) can be rebooted safely now; the demo rollout needs "
                f"{MIN_HOSTS}"
            )
        operator = get_user_model().objects.filter(username=DEMO_OPERATOR).first()
        kernels = any(h.needs_reboot or h.reboot_required for h in hosts)
        rollout, _ = actions.create_rollout(
            name=ROLLOUT_NAME if kernels else ROLLING_NAME,
            policy=policy,
            selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
            user=operator,
            reason=(
                "New kernels are installed on these hosts"
                if kernels
                else "These hosts have been up longest"
            )
            + "; the canary has been verified. Approve the next wave and watch the rest go by.",
            start=True,
        )
        say(f"Planned “{rollout.name}” (#{rollout.pk}): {len(hosts)} hosts.")
    elif rollout.state == Rollout.State.DRAFT:
        actions.start_rollout(rollout, None)
    if rollout.state == Rollout.State.RUNNING and not reached_approval(rollout):
        say("Rebooting the canary and verifying it…")
        with sampling_meanwhile():
            rollout = drive(rollout, interval=interval, timeout=timeout, stop=reached_approval)
    rollout.refresh_from_db()
    story = Story(
        rollout=rollout,
        created=created,
        canary=_names(rollout, index=0),
        awaiting=[
            name
            for wave in rollout.waves.filter(state=Wave.State.AWAITING_APPROVAL)
            for name in _names(rollout, index=wave.index)
        ],
        kept_livepatched=kept.name if kept else None,
    )
    _check(story)
    return story


def _names(rollout: Rollout, *, index: int) -> list[str]:
    return list(
        rollout.attempts.filter(wave__index=index)
        .order_by("position")
        .values_list("host__name", flat=True)
    )


def _check(story: Story) -> None:
    rollout = story.rollout
    canary = rollout.attempts.filter(wave__index=0).select_related("host")
    failed = [a for a in canary if a.state == RebootAttempt.State.FAILED]
    if failed:
        raise DemoStoryError(
            "the demo canary failed: "
            + "; ".join(f"{a.host.name}: {a.failure_reason}" for a in failed)
        )
    if rollout.state == Rollout.State.RUNNING and not story.awaiting:
        if rollout.waves.filter(index__gt=0, approved_at__isnull=False).exists():
            story.notes.append("its next wave was already approved: the rollout is under way")
        else:
            raise DemoStoryError(
                f"rollout #{rollout.pk} did not reach its approval gate: "
                f"{rollout.waiting_reason or rollout.state}"
            )
    elif rollout.state == Rollout.State.PAUSED:
        story.notes.append(f"it is paused: {rollout.pause_reason}")


def fleet_summary() -> list[str]:
    """A few lines a person reads in the terminal before opening the browser."""
    hosts = Host.objects.all()
    distros = Counter(hosts.exclude(os_id="").values_list("os_id", flat=True))
    needing = selection.hosts({"kind": "needs-reboot"}).count()
    drifting = (
        Finding.objects.filter(resolved_at__isnull=True, severity__in=["high", "medium", "low"])
        .values("host")
        .distinct()
        .count()
    )
    livepatched = list(
        hosts.filter(livepatch_state="applied").order_by("name").values_list("name", flat=True)
    )
    spread = ", ".join(f"{name} {count}" for name, count in distros.most_common())
    return [
        f"Fleet: {hosts.count()} hosts ({spread}).",
        f"{needing} need a reboot; {drifting} have open drift findings.",
        f"Live-patched: {', '.join(livepatched) if livepatched else 'none'}.",
    ]
