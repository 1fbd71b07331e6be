"""`manage.py prune [--dry-run]`: delete audits, events and history past their retention."""

from django.core.management.base import BaseCommand, CommandError

from core import retention


class Command(BaseCommand):
    help = (
        "Delete rows older than their RETENTION_*_DAYS setting (0 keeps a kind forever), in "
        "small batches, and print the count per table. Each host's latest audit and current "
        "boot, open findings and unfinished rollouts are always kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="rows per delete statement and transaction (default 5000)",
        )

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        if options["batch_size"] < 1:
            raise CommandError(f"--batch-size must be at least 1, not {options['batch_size']}")
        counts = retention.prune(dry_run=dry_run, batch_size=options["batch_size"])
        width = max((len(label) for label in counts), default=0)
        for label, n in counts.items():
            self.stdout.write(f"{label:<{width}}  {n:>9}")
        for setting in retention.kept_forever():
            self.stdout.write(f"{setting}=0: {retention.rules()[setting]} kept forever")
        total = sum(counts.values())
        if dry_run:
            self.stdout.write(f"Dry run: {total} rows would be deleted; nothing was.")
            return
        retention.record_pruned(counts)
        self.stdout.write(f"Deleted {total} rows.")
