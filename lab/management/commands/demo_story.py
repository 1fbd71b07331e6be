"""`manage.py demo_story`: set the demo's opening scene on a registered, audited fleet.

Plans the demo rollout (a demo policy: canary, then approval; short soak), reboots and verifies
its canary synchronously with the engine's driver, and leaves the next wave waiting for an
operator's Approve. Safe to run again: an unfinished demo rollout is reused.
"""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from lab import demo_story


class Command(BaseCommand):
    help = "Prepare the demo: a rollout whose canary passed and whose next wave awaits approval."

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="seconds to wait for the canary"
        )
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between ticks")

    def handle(self, *args, **options):
        if options["timeout"] <= 0 or options["interval"] <= 0:
            raise CommandError("--timeout and --interval must be greater than zero")
        try:
            story = demo_story.prepare(
                interval=options["interval"], timeout=options["timeout"], say=self.stdout.write
            )
        except demo_story.DemoStoryError as exc:
            raise CommandError(f"the demo story could not be set: {exc}") from exc
        for line in demo_story.fleet_summary():
            self.stdout.write(line)
        rollout = story.rollout
        url = reverse("reboots:detail", args=[rollout.pk])
        kept = "" if story.created else " (kept from an earlier run)"
        self.stdout.write(
            f"Rollout “{rollout.name}”{kept} at {url}: canary {', '.join(story.canary)} "
            "rebooted and verified."
        )
        if story.awaiting:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Waiting for your approval: {', '.join(story.awaiting)}. Log in as the "
                    "operator, open Rollouts and click Approve."
                )
            )
        self.stdout.write(f"Policies: {'; '.join(demo_story.POLICIES)}.")
        for note in story.notes:
            self.stdout.write(f"Note: {note}.")
        if story.kept_livepatched:
            self.stdout.write(
                f"{story.kept_livepatched} stays live-patched: open it to see why live "
                "patches are not a reboot."
            )
