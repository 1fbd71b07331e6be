"""`manage.py import_known_hosts FILE`: pin host keys from an OpenSSH known_hosts file."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fleet.hostkeys import import_known_hosts


class Command(BaseCommand):
    help = (
        "Pin inventory hosts' SSH keys from a known_hosts file (plain, [host]:port and hashed "
        "entries; @revoked and @cert-authority lines are skipped). FILE may be '-'."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace keys already pinned to a different key",
        )

    def handle(self, *args, **options):
        path = options["file"]
        if path == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        report = import_known_hosts(text, replace=options["replace"])
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        for conflict in report.conflicts:
            self.stdout.write(self.style.WARNING(f"conflict: {conflict}"))
        for name in report.pinned:
            self.stdout.write(f"pinned: {name}")
        self.stdout.write(
            f"{len(report.pinned)} pinned, {len(report.unchanged)} already pinned, "
            f"{len(report.conflicts)} conflicts, {len(report.notes)} lines skipped."
        )
