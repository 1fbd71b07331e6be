"""Banners on every page: paused rollouts, rollouts waiting outside their window, a stale engine.

The banners are computed lazily, the first time a template reads them (`reboots/_banners.html`
in base.html), so HTMX fragments and pages without banners pay no query for them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.views import VIEW_PERM
from reboots import windows
from reboots.models import EngineState, Rollout
from reboots.snapshot import Policy

MAX_LISTED = 5  # rollouts named one by one; the rest are counted


@dataclass(frozen=True)
class Banner:
    tone: str  # "warn" | "bad"
    text: str
    url: str = ""
    at: datetime | None = None


def stale_after() -> timedelta:
    """How old the engine's last tick may be before a banner says so."""
    return timedelta(seconds=settings.ENGINE_STALE_SECONDS)


class RebootBanners:
    def __init__(self, exclude_rollout: int | None = None, now: datetime | None = None):
        self.exclude_rollout = exclude_rollout
        self.now = now or timezone.now()

    @cached_property
    def items(self) -> list[Banner]:
        engine = EngineState.objects.filter(pk=1).first()
        active = list(
            Rollout.objects.filter(state__in=Rollout.ACTIVE_STATES)
            .exclude(pk=self.exclude_rollout)
            .only(
                "pk",
                "name",
                "state",
                "pause_reason",
                "paused_at",
                "policy_snapshot",
                "window_override_until",
            )
            .order_by("-created_at", "-pk")
        )
        banners = self._engine(engine, any(r.state == Rollout.State.RUNNING for r in active))
        paused = [r for r in active if r.state == Rollout.State.PAUSED]
        for rollout in paused[:MAX_LISTED]:
            reason = rollout.pause_reason or "no reason given"
            banners.append(
                Banner(
                    "warn",
                    f"Rollout “{rollout.name}” is paused: {reason}",
                    reverse("reboots:detail", args=[rollout.pk]),
                    rollout.paused_at,
                )
            )
        if len(paused) > MAX_LISTED:
            banners.append(
                Banner(
                    "warn",
                    f"{len(paused) - MAX_LISTED} more paused rollouts",
                    reverse("reboots:list") + "?state=paused",
                )
            )
        waiting = [
            outside
            for rollout in active
            if rollout.state == Rollout.State.RUNNING and (outside := self._outside(rollout))
        ]
        for rollout, opens in waiting[:MAX_LISTED]:
            text = f"Rollout “{rollout.name}” is outside its change window"
            text += ": no host starts until it opens" if opens else " and no window opens this week"
            banners.append(
                Banner("warn", text, reverse("reboots:detail", args=[rollout.pk]), opens)
            )
        return banners

    @cached_property
    def attention(self) -> list[Rollout]:
        """Rollouts that wait for an operator (nav badge, Fleet notice), newest first."""
        return list(
            Rollout.objects.filter(Rollout.attention_q())
            .only("pk", "name", "state", "waiting_kind", "waiting_reason", "pause_kind")
            .order_by("-created_at", "-pk")[:50]
        )

    def _outside(self, rollout: Rollout):
        """(rollout, next opening) when its windows are closed and not overridden, else None."""
        policy = Policy.of(rollout)
        if not policy.change_windows:
            return None
        override = rollout.window_override_until
        if override and override > self.now:
            return None
        if windows.is_open(policy.change_windows, policy.time_zone, self.now):
            return None
        return rollout, windows.next_open(policy.change_windows, policy.time_zone, self.now)

    def _engine(self, engine: EngineState | None, running: bool) -> list[Banner]:
        banners = []
        if engine is not None and engine.pause_all:
            banners.append(
                Banner(
                    "bad",
                    f"All rollouts are paused fleet-wide: {engine.pause_all_reason}",
                    reverse("reboots:list"),
                    engine.pause_all_at,
                )
            )
        last = engine.last_tick_at if engine is not None else None
        if last is None:
            if running:
                banners.append(
                    Banner(
                        "bad",
                        "The rollout engine has never run: start the Celery worker and beat, "
                        "or run “manage.py rollout run ID”. Running rollouts do not move.",
                    )
                )
        elif self.now - last > stale_after():
            banners.append(
                Banner(
                    "bad",
                    "The rollout engine has not ticked recently: check the Celery worker and "
                    "beat. Running rollouts do not move until it does.",
                    at=last,
                )
            )
        return banners


def banners(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(VIEW_PERM):
        return {}
    match = getattr(request, "resolver_match", None)
    exclude = None
    if match is not None and match.view_name == "reboots:detail":
        # The rollout page shows its own state; no banner repeats it.
        exclude = match.kwargs.get("pk")
    return {"reboot_banners": RebootBanners(exclude_rollout=exclude)}
