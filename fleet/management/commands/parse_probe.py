"""`manage.py parse_probe FILE`: print the facts JSON of one probe output (FILE may be `-`),
with the findings the judge gives them under the uptime and /boot options."""

import json
import sys
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet import judge


def _iso_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--now must be an ISO-8601 time, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise CommandError("--now needs a time zone (e.g. 2024-01-31T12:00:00Z)")
    return parsed


class Command(BaseCommand):
    help = "Print the normalised facts JSON of a probe output (parse errors are in `errors`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="probe output file, or - for standard input")
        parser.add_argument("--max-uptime-days", type=int, default=30)
        parser.add_argument("--boot-space-min-mb", type=int, default=100)
        parser.add_argument(
            "--now", help="reference time (ISO-8601 with zone) when the probe has no clock"
        )

    def handle(self, *args, **options) -> None:
        now = _iso_datetime(options["now"]) if options["now"] else None
        path = options["file"]
        try:
            if path == "-":
                raw = sys.stdin.buffer.read().decode("utf-8", "replace")
            else:
                with open(path, "rb") as handle:
                    raw = handle.read().decode("utf-8", "replace")
        except OSError as exc:
            self.stderr.write(f"cannot read {path}: {exc.strerror or exc}")
            sys.exit(2)
        policy = judge.Policy(
            max_uptime_days=options["max_uptime_days"],
            boot_space_min_mb=options["boot_space_min_mb"],
            findings_per_kind=settings.FINDINGS_PER_KIND_MAX,
        )
        facts = judge.describe(raw, policy, now=now)
        self.stdout.write(json.dumps(facts, indent=2, sort_keys=True, ensure_ascii=False))
