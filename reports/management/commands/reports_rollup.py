"""Backfill or refresh the daily compliance rollup: `manage.py reports_rollup [--days N]`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import rollup


class Command(BaseCommand):
    help = (
        "Compute and store the Reports compliance history for the last N ended days (UTC) that "
        "are missing or were judged with other limits, groups, hosts or boots. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=rollup.DEFAULT_DAYS,
            help=f"how many days back from yesterday (default {rollup.DEFAULT_DAYS}: 53 weeks)",
        )

    def handle(self, *args, **options) -> None:
        days = options["days"]
        if days < 1:
            raise CommandError("--days must be at least 1")
        computed = rollup.refresh(days)
        self.stdout.write(f"{computed} of the last {days} days computed; the others were current.")
