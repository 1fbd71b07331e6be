"""`manage.py rollout list` and `manage.py rollout run ID`.

`run` drives engine ticks in the foreground, executing host work in this process (no broker,
no worker), until the rollout ends or pauses and nothing is in flight. For cron, and for people
without a Celery worker. Exit status: 0 completed, 1 completed with failures or aborted,
2 paused (the reason is printed), 3 stopped by --timeout.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reboots import actions, runner, still_open
from reboots.models import RebootAttempt, Rollout


class Command(BaseCommand):
    help = "List rollouts, or run one in the foreground until it ends or pauses."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="rollouts, newest first")
        run = sub.add_parser("run", help="tick a rollout until it ends or pauses")
        run.add_argument("rollout_id", type=int)
        run.add_argument(
            "--start", action="store_true", help="start the rollout first if it is a draft"
        )
        run.add_argument("--as", dest="username", help="the user recorded for --start")
        run.add_argument("--interval", type=float, help="seconds between ticks")
        run.add_argument("--timeout", type=float, help="give up after this many seconds")
        run.add_argument("--workers", type=int, help="host operations in parallel")

    def handle(self, *args, **options):
        if options["action"] == "list":
            return self.list()
        return self.run(options)

    def list(self):
        for rollout in Rollout.objects.all()[:100]:
            counts = {
                state: rollout.attempts.filter(state=state).count()
                for state in (RebootAttempt.State.SUCCEEDED, RebootAttempt.State.FAILED)
            }
            self.stdout.write(
                f"{rollout.pk:>5}  {rollout.state:<24} {rollout.name[:40]:<40} "
                f"{rollout.attempts.count():>4} hosts, {counts['succeeded']} ok, "
                f"{counts['failed']} failed"
            )

    def run(self, options):
        rollout = Rollout.objects.filter(pk=options["rollout_id"]).first()
        if rollout is None:
            raise CommandError(f"no rollout {options['rollout_id']}")
        if rollout.state == Rollout.State.DRAFT:
            if not options["start"]:
                raise CommandError(f"rollout {rollout.pk} is a draft: pass --start to start it")
            user = None
            if options["username"]:
                user = get_user_model().objects.filter(username=options["username"]).first()
                if user is None:
                    raise CommandError(f"no user {options['username']!r}")
            actions.start_rollout(rollout, user)
        elif rollout.state == Rollout.State.PAUSED:
            raise CommandError(f"rollout {rollout.pk} is paused: {rollout.pause_reason}")
        elif rollout.is_ended:
            raise CommandError(f"rollout {rollout.pk} has ended ({rollout.state})")

        seen: dict[int, str] = {}

        def report(current: Rollout) -> None:
            for pk, name, state in current.attempts.values_list("pk", "host__name", "state"):
                if seen.get(pk) != state:
                    seen[pk] = state
                    self.stdout.write(f"{name}: {state}")

        rollout = runner.drive(
            rollout,
            interval=options["interval"],
            timeout=options["timeout"],
            workers=options["workers"],
            on_tick=report,
        )
        self.stdout.write(f"rollout {rollout.pk}: {rollout.state}")
        if rollout.state == Rollout.State.COMPLETED:
            return
        if rollout.state == Rollout.State.PAUSED:
            self.stderr.write(f"paused: {rollout.pause_reason}")
            raise SystemExit(2)
        if rollout.state == Rollout.State.RUNNING:
            self.stderr.write(f"still running after --timeout: {still_open.summary(rollout)}")
            raise SystemExit(3)
        raise SystemExit(1)
