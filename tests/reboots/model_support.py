"""The product's one promise as a state machine over a real lab (see test_model_based.py).

A Hypothesis `RuleBasedStateMachine` plays operator, admin, the engine's beat, the clock and
bad luck against a simulated fleet serving real SSH on loopback, and after every step checks
the promise against the lab's own truth (its reboot ledger), never against what the database
believes:

  (a) no redundancy group ever had more hosts down at one instant than its max_unavailable
      allows, counting hosts still down from earlier or ended rollouts (the whole ledger);
  (b) no attempt sent a second reboot: a host received at most one reboot per attempt (try)
      the engine marked `rebooting`;
  (c) every host the ledger saw go down and not come back is shown down in the API
      (`reachable: false`, `liveness.state == "down"`) and on the Fleet page (`?state=down`);
  (d) every failure is in the final record: an ended rollout's API `hosts_failed` counts every
      attempt that failed, even one skipped afterwards, and such a rollout ends
      `completed-with-failures`, never `completed`.

Choose the checks with MODEL_CHECKS (default "abcd"; e.g. MODEL_CHECKS=ab). Check (c) reads the
`liveness` field of issue 11 (`{"state", "since", "reason"}`) and the Fleet page's `down` filter:
on code without them it fails at the first reboot, by design.

The engine runs for real: `engine.tick` with an `InlineRunner` dispatcher (SSH on worker
threads); every step waits until the dispatched work has finished, so each check sees a quiet
system. The engine reads a clock that runs with the wall clock and can jump forward
(`core.clock.now` is patched), so a boot timeout passes in one step while lab reboots take
well under a second of real time. Each example (walk) gets a fresh lab and a flushed database.

Used by tests/reboots/test_model_based.py (CI-sized) and benchmarks/model_walk.py (long walks).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    invariant,
    rule,
)

from core import clock
from core.models import Event
from fleet import audit as fleet_audit
from fleet import hostkeys, liveness
from fleet.capacity import resolve_max_unavailable
from fleet.models import Host
from lab.faults import FAULTS
from lab.generate import GroupSpec, group_specs
from lab.ledger import Ledger, RebootRecord
from lab.register import register_hosts
from lab.simulator import Lab
from lab.testing import start_lab
from reboots import actions, engine
from reboots.models import RebootAttempt, RebootPolicy, Rollout, Wave
from reboots.runner import InlineRunner
from tests import factories

A = RebootAttempt.State
R = Rollout.State
ALL_CHECKS = "abcd"
CHECK_NAMES = {
    "a": "never more hosts of a group down than max_unavailable allows",
    "b": "no attempt sends a second reboot",
    "c": "every host down in the ledger is shown down (API and Fleet page)",
    "d": "every failure is in the final record",
}
BOOT_TIMEOUT = 20  # seconds of engine time; a clock jump past it times a host out
IDLE_TIMEOUT = 90.0  # real seconds dispatched work may take before the walk gives up
TICK_EVERY = 0.1  # real seconds between ticks while time passes
BEAT_EVERY = 0.05  # real seconds between the two ticks that follow every step
LAB_SEED = 11
# Faults issue 11 names (and two more), most weight on the one that keeps a host down; only
# those lab/faults.py has. Left out: `hangs` (every connection waits out SSH_CONNECT_TIMEOUT).
WANTED_FAULTS = [
    "never-returns",
    "never-returns",
    "never-returns",
    "never-returns",
    "slow-boot",
    "boots-old-kernel",
    "degraded",
    "refuses-ssh",
    "flapping",
    "host-key-changes",
    "unhealthy",
    "garbage",
]
FAULT_CHOICES = [f for f in WANTED_FAULTS if f in FAULTS]
HOSTLINK = re.compile(r'class="hostlink">([^<]+)</a>')


def checks_from_env(default: str = ALL_CHECKS) -> str:
    value = os.environ.get("MODEL_CHECKS", default).strip().lower()
    unknown = set(value) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"MODEL_CHECKS: unknown check(s) {sorted(unknown)}; use letters of abcd")
    return value


class JumpClock:
    """Engine time: the wall clock plus an offset that only grows (`jump`)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return timezone.now() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta(0)


@dataclass
class WalkConfig:
    hosts: int = 14  # 10 in zone a, 4 in zone b: both db hosts, so the db group has two
    time_scale: float = 0.003  # lab boots take 0.03–0.15 s of real time (slow-boot 0.2–0.9 s)
    workers: int = 4
    checks: str = ALL_CHECKS
    seed: int | str | None = None  # the Hypothesis seed of this run (for messages)
    verbose: bool = False  # print every example's steps, not only a failing one's
    examples: int = 0  # of the current run (for the rerun hint)
    steps: int = 0


@dataclass
class Stats:
    examples: int = 0
    steps: int = 0
    reboots: int = 0
    failures_seen: int = 0
    rules: Counter = field(default_factory=Counter)


# --- the world of one example --------------------------------------------------------------------


def rack_of(index: int) -> str:
    return f"rack-{index % 3}"


RACK_MAX_UNAVAILABLE = "40%"  # racks of 5 allow 2 down, racks of 4 allow 1


def add_racks(lab: Lab) -> list[GroupSpec]:
    """Put every host in a second (or third) group across roles: `rack-<i mod 3>`.

    The lab's own groups are `<role>-<zone>` (and `db` for db hosts); racks cross them, so a
    host's start is limited by two or three groups at once. The racks go into the lab's own
    host state, so the ledger's records carry them like any other group.
    """
    role_groups = group_specs({g for info in lab.hosts.values() for g in info.groups})
    for name in lab.hosts:
        index = lab.state(name).index
        rack = rack_of(index)

        def add(st, rack=rack):
            if rack not in st.groups:
                st.groups.append(rack)

        lab.update_state(name, add)
    racks = sorted({rack_of(lab.state(n).index) for n in lab.hosts})
    return [*role_groups, *(GroupSpec(r, RACK_MAX_UNAVAILABLE) for r in racks)]


def group_limits(lab: Lab, specs: list[GroupSpec]) -> dict[str, int]:
    """Hosts allowed down per group, from the lab's truth (membership) and the specs."""
    sizes = Counter(g for info in lab.hosts.values() for g in info.groups)
    return {s.name: resolve_max_unavailable(s.max_unavailable, sizes[s.name]) for s in specs}


def closed_window(now: datetime) -> list[dict]:
    """A one-hour daily window twelve hours away: closed for the whole walk."""
    opens = (now + timedelta(hours=12)).astimezone(UTC)
    start = f"{opens.hour:02d}:00"
    end = f"{(opens.hour + 1) % 24:02d}:00"
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return [{"days": days, "start": start, "end": end}]


POLICIES: dict[str, dict[str, Any]] = {
    # Tolerates one failure: a failed host stays in its group's count while the rest go on.
    "steady": {
        "canary_size": 1,
        "batch_size": "2",
        "failure_budget": 1,
        "health_commands": [{"command": "lab-health", "where": "host", "timeout": 5}],
    },
    # No failure tolerated: pauses on the first one; resume needs a retry or a skip first.
    "strict": {
        "canary_size": 1,
        "batch_size": "50%",
        "failure_budget": 0,
        "approval_mode": "after-canary",
    },
    # One host a wave, every wave approved, soaking between waves.
    "careful": {
        "canary_size": 0,
        "batch_size": "1",
        "failure_budget": 2,
        "approval_mode": "every-wave",
        "soak_seconds": 15,
    },
    # A change window that is closed now: waits until an admin overrides it.
    "night": {"canary_size": 0, "batch_size": "3", "failure_budget": 0, "change_windows": None},
}


def make_policies() -> dict[str, RebootPolicy]:
    made = {}
    for name, fields in POLICIES.items():
        fields = dict(fields)
        if "change_windows" in fields:
            fields["change_windows"] = closed_window(timezone.now())
        fields.setdefault("soak_seconds", 0)
        policy = RebootPolicy(
            name=name,
            boot_timeout_seconds=BOOT_TIMEOUT,
            settle_timeout_seconds=5,
            **fields,
        )
        policy.full_clean()
        policy.save()
        made[name] = policy
    return made


def make_user(username: str, role: str):
    return factories.user(username, role)


class Harness:
    """Starts one lab and one clean database per example; owns the clock and the settings.

    `settings` is anything Django settings can be set on (pytest-django's `settings` fixture,
    or `django.conf.settings` in a script).
    """

    def __init__(self, state_root: Path, config: WalkConfig, settings) -> None:
        self.state_root = Path(state_root)
        self.config = config
        self.settings = settings
        self.clock = JumpClock()
        self.stats = Stats()
        self.failures: list[str] = []
        self._real_now: Callable[[], datetime] | None = None
        self._ssh_log_level = logging.NOTSET

    # The engine, the actions and host work read `core.clock.now`.
    def install_clock(self) -> None:
        if self._real_now is None:
            self._real_now = clock.now
            clock.now = self.clock.now
            # asyncssh logs every lab connection at INFO: thousands of lines a walk.
            self._ssh_log_level = logging.getLogger("asyncssh").level
            logging.getLogger("asyncssh").setLevel(logging.WARNING)

    def uninstall_clock(self) -> None:
        if self._real_now is not None:
            clock.now = self._real_now
            self._real_now = None
            logging.getLogger("asyncssh").setLevel(self._ssh_log_level)

    def begin(self) -> Example:
        self.stats.examples += 1
        number = self.stats.examples
        self.clock.reset()
        # A clean database: every example starts from an empty inventory.
        call_command("flush", interactive=False, verbosity=0)
        operator = make_user("otto-operator", "operator")
        admin = make_user("ada-admin", "admin")
        viewer = make_user("vera-viewer", "viewer")
        lab = start_lab(
            self.state_root / f"example-{number}",
            hosts=self.config.hosts,
            seed=LAB_SEED,
            time_scale=self.config.time_scale,
            stock=True,
        )
        try:
            specs = add_racks(lab)
            register_hosts(lab, groups=specs)
            self.settings.SSH_KEY_FILE = str(lab.client_key_path)
            self.settings.SSH_USE_AGENT = False
            self.settings.SSH_CONNECT_TIMEOUT = 3.0
            self.settings.SSH_COMMAND_TIMEOUT = 10.0
            self.settings.REBOOTS_NOTIFY_VIA_CELERY = False
            client = Client()
            client.force_login(viewer)
            return Example(
                number=number,
                lab=lab,
                runner=InlineRunner(self.config.workers),
                limits=group_limits(lab, specs),
                policies=make_policies(),
                operator=operator,
                admin=admin,
                client=client,
                started=time.time(),
            )
        except BaseException:
            lab.stop()
            raise

    def end(self, example: Example) -> None:
        try:
            example.runner.close()
        finally:
            example.lab.stop()

    def settings_for_ci(self, examples: int, steps: int, shrink: bool = False):
        phases = [Phase.generate, *([Phase.shrink] if shrink else [])]
        return hypothesis_settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )

    def run(self, *, examples: int, steps: int, seed: int, shrink: bool = False) -> None:
        """Run the machine as a Hypothesis test: `examples` walks of up to `steps` steps."""
        self.config.seed, self.config.examples, self.config.steps = seed, examples, steps

        def factory() -> RolloutMachine:
            return RolloutMachine(self)

        hypothesis_seed(seed)(factory)
        test = get_state_machine_test(
            factory, settings=self.settings_for_ci(examples, steps, shrink)
        )
        self.install_clock()
        try:
            test()
        finally:
            self.uninstall_clock()


@dataclass
class Example:
    number: int
    lab: Lab
    runner: InlineRunner
    limits: dict[str, int]
    policies: dict[str, RebootPolicy]
    operator: Any
    admin: Any
    client: Client
    started: float


# --- the machine ---------------------------------------------------------------------------------

picks = st.integers(min_value=0, max_value=10_000)
kinds = st.sampled_from(["group", "hosts", "group"])  # a whole group: its hosts wait on each other
choices = st.lists(picks, min_size=1, max_size=4)
policy_names = st.sampled_from(
    ["steady", "steady", "steady", "strict", "strict", "careful", "night"]
)
starts = st.sampled_from([True, True, True, False])
which_attempts = st.sampled_from(["failed", "failed", "any"])
# A fault for one host of a new rollout, given before it starts (often none).
dooms = st.sampled_from([None, *FAULT_CHOICES])
# Hypothesis favours the first choice (its simplest walk repeats it): a boot timeout passing.
TIME_STEPS = ["jump 25", "wait 0.3", "tick", "wait 0.3", "wait 0.8", "jump 8", "jump 60"]
FAULT_STEPS = [*FAULT_CHOICES, "clear", "clear", "clear"]
OPERATOR_ACTIONS = [
    "approve",
    "approve",
    "resume",
    "resume",
    "pause",
    "abort",
    "start_draft",
    "override_window",
    "accept_host_key",
    "audit_now",
    "mark_host_up",
]


def step(do: str, **params) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"do": st.just(do), **params})


# One rule draws one of these steps (repeated entries weigh more; Hypothesis also favours the
# first entry of each list). One rule, not a rule per action: Hypothesis's swarm testing
# switches a random subset of rules off in every example, and in a 5-example CI run most walks
# would then lose creating rollouts, faults or time.
STEPS = st.one_of(
    *[step("time_passes", how=st.sampled_from(TIME_STEPS))] * 3,
    *[
        step(
            "create_rollout",
            kind=kinds,
            chosen=choices,
            policy=policy_names,
            start=starts,
            doom=dooms,
        )
    ]
    * 2,
    *[
        step(
            "lab_fault",
            fault=st.sampled_from(FAULT_STEPS),
            index=picks,
            aim=st.sampled_from(["next", "next", "any"]),
        )
    ]
    * 3,
    *[
        step(
            "failed_host",
            action=st.sampled_from(["skip", "skip", "retry"]),
            index=picks,
            which=which_attempts,
        )
    ]
    * 2,
    *[step("operator_acts", action=st.sampled_from(OPERATOR_ACTIONS), index=picks)] * 2,
)


def pick(seq, index: int):
    return seq[index % len(seq)] if seq else None


class RolloutMachine(RuleBasedStateMachine):
    """Operators, admins, the engine's beat, time and faults, against one lab."""

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness
        self.checks = harness.config.checks
        self.ex = harness.begin()
        self.lab = self.ex.lab
        self.names = sorted(self.lab.hosts)
        self.group_names = sorted(self.ex.limits)
        self.story: list[str] = []
        self.step_no = 0
        self.failed = False
        # Attempts an operator skipped while they were failed: they stay failures on record.
        self.failed_then_skipped: dict[int, set[int]] = defaultdict(set)
        self.failed_seen: set[int] = set()
        self._states: dict[int, tuple[str, str, int]] = {}
        self._rollout_states: dict[int, str] = {}
        self._ledger_seen = 0
        self._serial = itertools.count(1)

    # --- plumbing ---

    def note(self, text: str) -> None:
        self.story.append(f"{self.step_no:3d}. {text}")

    def begin_step(self, text: str) -> None:
        self.step_no += 1
        self.harness.stats.steps += 1
        self.harness.stats.rules[text.split("(")[0]] += 1
        self.note(text)

    def idle(self) -> None:
        deadline = time.monotonic() + IDLE_TIMEOUT
        while self.ex.runner.busy:
            if time.monotonic() > deadline:
                self.failed = True
                raise AssertionError(
                    self.report([f"dispatched work still running after {IDLE_TIMEOUT}s"])
                )
            time.sleep(0.01)
        if self.ex.runner.errors:
            errors, self.ex.runner.errors[:] = list(self.ex.runner.errors), []
            self.failed = True
            raise AssertionError(
                self.report([f"engine work raised {type(e).__name__}: {e}" for e in errors])
            )

    def tick(self, times: int = 1, every: float = TICK_EVERY) -> None:
        for n in range(times):
            if n:
                time.sleep(every)
            engine.tick(dispatch=self.ex.runner)
            self.idle()

    def beat(self) -> None:
        """After each step: the engine's beat, twice, a moment apart (work moves on)."""
        self.tick(2, every=BEAT_EVERY)

    def pass_real_time(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            engine.tick(dispatch=self.ex.runner)
            self.idle()
            if time.monotonic() >= deadline:
                break
            time.sleep(TICK_EVERY)

    def rollouts(self, *states) -> list[Rollout]:
        qs = Rollout.objects.order_by("pk")
        return list(qs.filter(state__in=states) if states else qs)

    def attempts(self, *states) -> list[RebootAttempt]:
        return list(
            RebootAttempt.objects.filter(state__in=states)
            .select_related("host", "rollout")
            .order_by("rollout_id", "position")
        )

    def host(self, name: str) -> Host:
        return Host.objects.get(name=name)

    # --- rules: operators ---

    @rule(step=STEPS)
    def act(self, step):
        """One step of the walk: what it does and with what is drawn together (see STEPS)."""
        params = dict(step)
        getattr(self, params.pop("do"))(**params)

    @initialize(
        kind=st.sampled_from(["group", "hosts"]), chosen=choices, policy=policy_names, doom=dooms
    )
    def first_rollout(self, kind, chosen, policy, doom):
        """Every walk starts with one running rollout, so there is something to break."""
        self.create_rollout(kind, chosen, policy, start=True, doom=doom)

    def create_rollout(self, kind, chosen, policy, start, doom=None):
        """Plan a rollout; `doom` gives one of its hosts a fault just before it starts."""
        if kind == "group":
            spec = {"kind": "group", "value": pick(self.group_names, chosen[0])}
        else:
            spec = {"kind": "hosts", "value": sorted({pick(self.names, c) for c in chosen})}
        self.begin_step(
            f"create_rollout({spec['value']}, policy={policy}, start={start}, doom={doom})"
        )
        try:
            rollout, _ = actions.create_rollout(
                name=f"walk {next(self._serial)}",
                policy=self.ex.policies[policy],
                selection_spec=spec,
                user=self.ex.operator,
            )
        except actions.ActionError as exc:
            self.note(f"     refused: {exc}")
        else:
            waves = [
                [a.host.name for a in w.attempts.order_by("position")]
                for w in rollout.waves.order_by("index")
            ]
            note = f"     rollout #{rollout.pk} waves {waves}"
            if doom is not None:
                # Often the first to reboot: the rest of its groups then wait on it.
                victim = pick([*waves[0], *waves[0], *(n for w in waves for n in w)], chosen[-1])
                self.lab.set_fault(victim, doom)
                note += f"; {victim} given {doom}"
            if start:
                actions.start_rollout(rollout, self.ex.operator)
                note += "; started"
            self.note(note)
        self.beat()

    def operator_acts(self, action, index):
        """The less frequent operator and admin actions, one rule so the frequent ones
        (creating rollouts, skipping, retrying, faults, time) keep their share of steps."""
        getattr(self, action)(index)

    def start_draft(self, index):
        rollout = pick(self.rollouts(R.DRAFT), index)
        self.begin_step(f"start_draft(#{rollout.pk if rollout else '-'})")
        if rollout is not None:
            actions.start_rollout(rollout, self.ex.operator)
        self.beat()

    def approve(self, index):
        waves = list(
            Wave.objects.filter(state=Wave.State.AWAITING_APPROVAL, approved_at__isnull=True)
            .select_related("rollout")
            .order_by("pk")
        )
        wave = pick(waves, index)
        self.begin_step(f"approve({f'#{wave.rollout_id} wave {wave.number}' if wave else '-'})")
        if wave is not None:
            try:
                actions.approve(wave, self.ex.admin)
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def pause(self, index):
        rollout = pick(self.rollouts(R.RUNNING), index)
        self.begin_step(f"pause(#{rollout.pk if rollout else '-'})")
        if rollout is not None:
            try:
                actions.pause(rollout, self.ex.operator, "model walk")
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def resume(self, index):
        rollout = pick(self.rollouts(R.PAUSED), index)
        self.begin_step(f"resume(#{rollout.pk if rollout else '-'})")
        if rollout is not None:
            try:
                actions.resume(rollout, self.ex.operator)
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def abort(self, index):
        rollout = pick(self.rollouts(R.DRAFT, R.RUNNING, R.PAUSED), index)
        self.begin_step(f"abort(#{rollout.pk if rollout else '-'})")
        if rollout is not None:
            try:
                actions.abort(rollout, self.ex.operator, "model walk")
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def failed_host(self, action, index, which):
        """What an operator does about a failed host: skip it (mostly) or retry it."""
        if action == "retry":
            self.retry(index)
        else:
            self.skip(index, which)

    def retry(self, index):
        attempt = pick(
            [a for a in self.attempts(A.FAILED) if a.rollout.state in Rollout.ACTIVE_STATES], index
        )
        self.begin_step(f"retry({self._label(attempt)})")
        if attempt is not None:
            try:
                actions.retry(attempt, self.ex.operator)
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def skip(self, index, which="failed"):
        states = (A.FAILED,) if which == "failed" else (A.FAILED, A.HELD, A.PENDING)
        attempt = pick(self.attempts(*states), index)
        self.begin_step(f"skip({self._label(attempt)})")
        if attempt is not None:
            was = attempt.state
            try:
                actions.skip(attempt, self.ex.operator, "model walk")
            except actions.ActionError as exc:
                self.note(f"     refused: {exc}")
            else:
                if was == A.FAILED:
                    self.failed_then_skipped[attempt.rollout_id].add(attempt.pk)
        self.beat()

    def override_window(self, index):
        candidates = [
            r
            for r in self.rollouts(R.DRAFT, R.RUNNING, R.PAUSED)
            if (r.policy_snapshot or {}).get("change_windows") and not r.window_override_until
        ]
        rollout = pick(candidates, index)
        self.begin_step(f"override_window(#{rollout.pk if rollout else '-'})")
        if rollout is not None:
            until = clock.now() + timedelta(hours=2)
            actions.override_window(rollout, self.ex.admin, "model walk: maintenance now", until)
        self.beat()

    def audit_now(self, index):
        name = pick(self.names, index)
        self.begin_step(f"audit_now({name})")
        summary = fleet_audit.run_audit([self.host(name).pk], concurrency=1)
        outcome = summary.hosts[0].outcome if summary.hosts else "skipped"
        self.note(f"     audit: {outcome}")
        self.beat()

    def accept_host_key(self, index):
        offered = list(
            Host.objects.exclude(offered_key="")
            .filter(host_key_state=Host.KeyState.CHANGED)
            .order_by("name")
        )
        host = pick(offered, index)
        self.begin_step(f"accept_host_key({host.name if host else '-'})")
        if host is not None:
            try:
                hostkeys.accept_offered_key(host, self.ex.operator)
            except ValueError as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    def mark_host_up(self, index):
        """An admin's audited "mark as up", only for a host the lab says is really up."""
        status = self.lab.status()
        really_up = [n for n in self.names if n not in status["not_up"]]
        name = pick(really_up, index)
        self.begin_step(f"mark_host_up({name or '-'})")
        if name is not None:
            try:
                liveness.vouch_up(
                    self.host(name), self.ex.admin, "model walk: seen up on the console"
                )
            except liveness.MarkUpRefused as exc:
                self.note(f"     refused: {exc}")
        self.beat()

    # --- rules: the world ---

    def time_passes(self, how):
        """The engine ticks once; or real time passes (hosts boot) with the engine ticking; or
        engine time jumps ahead (soaks end, boot timeouts pass)."""
        kind, _, amount = how.partition(" ")
        if kind == "tick":
            self.tick_once()
        elif kind == "wait":
            self.wait(float(amount))
        else:
            self.time_jumps(int(amount))

    def tick_once(self):
        self.begin_step("tick_once()")
        self.beat()

    def wait(self, seconds):
        self.begin_step(f"wait({seconds}s)")
        self.pass_real_time(seconds)

    def time_jumps(self, seconds):
        self.begin_step(f"time_jumps({seconds}s)")
        self.harness.clock.jump(seconds)
        self.beat()

    def lab_fault(self, fault, index, aim):
        """A fault at a random moment ("next": on a host whose reboot is still to come), or a
        host's faults cleared so it can come back."""
        if fault == "clear":
            self.clear_faults(index)
        else:
            self.inject_fault(index, fault, aim)

    def inject_fault(self, index, fault, aim="any"):
        name = None
        if aim == "next":
            # The next few hosts to start: the first waiting ones of each running rollout.
            waiting = defaultdict(list)
            for a in self.attempts(A.PENDING):
                if a.rollout.state == R.RUNNING:
                    waiting[a.rollout_id].append(a.host.name)
            name = pick([n for names in waiting.values() for n in names[:2]], index)
        if name is None:
            name = pick(self.names, index)
        self.begin_step(f"inject_fault({name}, {fault})")
        self.lab.set_fault(name, fault)
        self.beat()

    def clear_faults(self, index):
        faulted = sorted(self.lab.status()["faults"])
        name = pick(faulted, index)
        self.begin_step(f"clear_faults({name or '-'})")
        if name is not None:
            self.lab.clear_fault(name)
        self.beat()

    # --- the promise ---

    @invariant()
    def the_promise_holds(self):
        self._observe()
        ledger = self.lab.ledger()
        problems: list[str] = []
        if "a" in self.checks:
            problems += self.check_group_limits(ledger)
        if "b" in self.checks:
            problems += self.check_no_second_reboot(ledger)
        if "c" in self.checks:
            problems += self.check_down_is_shown(ledger)
        if "d" in self.checks:
            problems += self.check_failures_on_record()
        if problems:
            self.failed = True
            raise AssertionError(self.report(problems))

    def check_group_limits(self, ledger: Ledger) -> list[str]:
        problems = []
        for group, allowed in sorted(self.ex.limits.items()):
            worst = ledger.max_concurrent_down(group)
            if worst > allowed:
                at, down = worst_moment(ledger.records, group)
                who = ", ".join(
                    f"{r.host} (down since +{r.down_at - self.ex.started:.2f}s"
                    f"{', back at +%.2fs' % (r.up_at - self.ex.started) if r.up_at else ', not back'})"
                    for r in down
                )
                problems.append(
                    f"(a) group {group}: {worst} hosts down at once at +{at - self.ex.started:.2f}s, "
                    f"max_unavailable allows {allowed}: {who}"
                )
        return problems

    def check_no_second_reboot(self, ledger: Ledger) -> list[str]:
        marked = Counter(
            Event.objects.filter(verb="attempt.rebooting").values_list("host__name", flat=True)
        )
        problems = []
        for host, reboots in sorted(ledger.reboots_per_host().items()):
            if reboots > marked[host]:
                problems.append(
                    f"(b) {host} received {reboots} reboots, but the engine marked only "
                    f"{marked[host]} attempt(s) rebooting: a reboot was sent twice"
                )
        return problems

    def check_down_is_shown(self, ledger: Ledger) -> list[str]:
        down = sorted(still_down(ledger))
        if not down:
            return []
        problems = []
        response = self.ex.client.get("/api/v1/hosts/", {"page_size": 1000})
        if response.status_code != 200:
            return [f"(c) GET /api/v1/hosts/ answered {response.status_code}"]
        rows = {row["name"]: row for row in response.json()["results"]}
        for name in down:
            row = rows.get(name)
            if row is None:
                problems.append(f"(c) {name} is down in the lab and missing from the API")
                continue
            liveness = row.get("liveness")
            state = liveness.get("state") if isinstance(liveness, dict) else liveness
            if row.get("reachable") is not False or state != "down":
                problems.append(
                    f"(c) {name} is down in the lab (rebooted, not back) but the API says "
                    f"reachable={row.get('reachable')!r}, liveness={liveness!r}"
                )
        page = self.ex.client.get(
            "/", {"state": "down"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="hosts"
        )
        body = page.content.decode()
        if page.status_code != 200 or "is not one of the available choices" in body:
            problems.append(
                f"(c) the Fleet page has no 'down' filter (GET /?state=down: {page.status_code})"
            )
        else:
            listed = set(HOSTLINK.findall(body))
            missing = [n for n in down if n not in listed]
            if missing:
                problems.append(f"(c) the Fleet page's ?state=down does not list {missing}")
        return problems

    def check_failures_on_record(self) -> list[str]:
        ended = {r.pk: r for r in self.rollouts(*Rollout.ENDED_STATES)}
        if not ended:
            return []
        response = self.ex.client.get("/api/v1/rollouts/", {"page_size": 1000})
        if response.status_code != 200:
            return [f"(d) GET /api/v1/rollouts/ answered {response.status_code}"]
        rows = {row["id"]: row for row in response.json()["results"]}
        problems = []
        for pk in sorted(ended):
            row = rows.get(pk)
            if row is None:
                problems.append(f"(d) rollout #{pk} is missing from the API")
                continue
            failed_now = set(
                RebootAttempt.objects.filter(rollout_id=pk, state=A.FAILED).values_list(
                    "pk", flat=True
                )
            )
            skipped = set(
                RebootAttempt.objects.filter(rollout_id=pk, state=A.SKIPPED).values_list(
                    "pk", flat=True
                )
            )
            failures = failed_now | (self.failed_then_skipped.get(pk, set()) & skipped)
            if row["hosts_failed"] != len(failures):
                problems.append(
                    f"(d) rollout #{pk} ({row['state']}): the API says hosts_failed="
                    f"{row['hosts_failed']}, but {len(failures)} attempt(s) failed "
                    f"({len(failures - failed_now)} of them skipped afterwards)"
                )
            if row["state"] == R.COMPLETED and failures:
                problems.append(
                    f"(d) rollout #{pk} ended 'completed' though {len(failures)} attempt(s) failed "
                    "(expected completed-with-failures)"
                )
            if row["state"] == R.COMPLETED_WITH_FAILURES and not failures:
                problems.append(f"(d) rollout #{pk} ended completed-with-failures with no failure")
        return problems

    # --- the story, for failure messages ---

    def _label(self, attempt: RebootAttempt | None) -> str:
        if attempt is None:
            return "-"
        return f"#{attempt.rollout_id} {attempt.host.name} ({attempt.state})"

    def _observe(self) -> None:
        """Append to the story what changed: attempts, rollouts, and the ledger."""
        now = {
            pk: (host, state, rollout)
            for pk, host, state, rollout in RebootAttempt.objects.values_list(
                "pk", "host__name", "state", "rollout_id"
            )
        }
        moves = []
        for pk, (host, state, rollout) in sorted(now.items(), key=lambda i: (i[1][2], i[0])):
            before = self._states.get(pk)
            if before is None or before[1] != state:
                moves.append(f"#{rollout} {host} {before[1] if before else 'new'}→{state}")
            if state == A.FAILED and pk not in self.failed_seen:
                self.failed_seen.add(pk)
                self.harness.stats.failures_seen += 1
                reason = (
                    RebootAttempt.objects.filter(pk=pk)
                    .values_list("failure_reason", flat=True)
                    .first()
                )
                moves.append(f"  ({host} failed: {reason[:140]})")
        self._states = now
        if moves:
            self.note("     attempts: " + "; ".join(moves))
        rollouts = dict(Rollout.objects.values_list("pk", "state"))
        changed = [
            f"#{pk} {self._rollout_states.get(pk, 'new')}→{state}"
            for pk, state in sorted(rollouts.items())
            if self._rollout_states.get(pk) != state
        ]
        self._rollout_states = rollouts
        if changed:
            self.note("     rollouts: " + "; ".join(changed))
        events = ledger_events(self.lab.ledger(), self.ex.started)
        fresh = events[self._ledger_seen :]
        self._ledger_seen = len(events)
        self.harness.stats.reboots += sum(1 for _, e in fresh if e.endswith(" rebooted"))
        if fresh:
            self.note("     ledger: " + "; ".join(e for _, e in sorted(fresh)))

    def report(self, problems: list[str]) -> str:
        cfg = self.harness.config
        faults = self.lab.status()["faults"]
        lines = [
            "The promise was broken:",
            *(f"  {p}" for p in problems),
            "",
            f"Hypothesis seed {cfg.seed}, example {self.ex.number}, step {self.step_no}; lab faults "
            f"now {faults}",
            f"Rerun: MODEL_SEED={cfg.seed} MODEL_EXAMPLES={cfg.examples} MODEL_STEPS={cfg.steps} "
            f"MODEL_CHECKS={self.checks} pytest tests/reboots/test_model_based.py -k walk (or "
            f"benchmarks/model_walk.py --seed {cfg.seed} --examples {cfg.examples} --steps "
            f"{cfg.steps} --checks {self.checks}); lab timing varies, so a rerun may differ.",
            "Steps (with what each one changed):",
            *self.story,
        ]
        text = "\n".join(lines)
        self.harness.failures.append(text)
        return text

    def teardown(self):
        try:
            if not self.failed:
                self._finish()
        finally:
            self.harness.end(self.ex)
            if self.harness.config.verbose:
                print(f"--- example {self.ex.number}", *self.story, sep="\n")

    def _finish(self) -> None:
        """End of the walk: abort what is still open, let in-flight hosts settle, check again."""
        self.begin_step("end_of_walk(): abort every open rollout, let in-flight hosts settle")
        for rollout in self.rollouts(R.DRAFT, R.RUNNING, R.PAUSED):
            actions.abort(rollout, self.ex.operator, "model walk ended")
        for _ in range(20):
            self.beat()
            if not RebootAttempt.objects.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).exists():
                break
            self.harness.clock.jump(BOOT_TIMEOUT + 1)
            time.sleep(TICK_EVERY)
        self.the_promise_holds()


# --- reading the ledger --------------------------------------------------------------------------


def still_down(ledger: Ledger) -> set[str]:
    """Hosts whose last reboot in the ledger has not come back up (yet)."""
    last: dict[str, RebootRecord] = {}
    for record in ledger.records:
        last[record.host] = record
    return {name for name, record in last.items() if record.up_at is None}


def worst_moment(records: list[RebootRecord], group: str) -> tuple[float, list[RebootRecord]]:
    """The instant the most hosts of `group` were down, and which ones."""
    events = []
    for n, r in enumerate(records):
        if group in r.groups:
            events.append((r.down_at, 1, n))
            if r.up_at is not None:
                events.append((r.up_at, -1, n))
    events.sort(key=lambda e: (e[0], e[1]))
    down: set[int] = set()
    best: tuple[float, list[RebootRecord]] = (0.0, [])
    for at, delta, n in events:
        if delta > 0:
            down.add(n)
        else:
            down.discard(n)
        if len(down) > len(best[1]):
            best = (at, [records[i] for i in sorted(down)])
    return best


def ledger_events(ledger: Ledger, t0: float) -> list[tuple[float, str]]:
    events = []
    for r in ledger.records:
        events.append((r.down_at, f"+{r.down_at - t0:.2f}s {r.host} rebooted"))
        if r.up_at is not None:
            events.append((r.up_at, f"+{r.up_at - t0:.2f}s {r.host} up"))
        elif r.outcome == "emergency":
            events.append((r.down_at, f"{r.host} stuck in emergency mode"))
    events.sort()
    return events
