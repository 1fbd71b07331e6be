"""`manage.py import_inventory PATH [--format ini|yaml|csv] [--prune] [--allow-group-shrink]
[--dry-run]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fleet.inventory import FORMATS, InventoryError, decode_inventory, import_text


class Command(BaseCommand):
    help = (
        "Import hosts and redundancy groups from an Ansible inventory (INI or YAML) or a CSV "
        "(name,address,port,user,groups,labels). Re-importing the same file changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the inventory file, or - for standard input")
        parser.add_argument(
            "--format", choices=FORMATS, help="default: from the extension, else the content"
        )
        parser.add_argument(
            "--prune", action="store_true", help="remove hosts that are not in the file"
        )
        parser.add_argument(
            "--allow-group-shrink",
            action="store_true",
            help="let a redundancy group lose members while a rollout is open on it",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change, write nothing"
        )

    def handle(
        self,
        *args,
        path: str,
        format: str | None,
        prune: bool,
        dry_run: bool,
        allow_group_shrink: bool,
        **options,
    ):
        if path == "-":
            import sys

            data, name = sys.stdin.buffer.read(), "<stdin>"
        else:
            try:
                data, name = Path(path).read_bytes(), path
            except OSError as exc:
                raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        try:
            text = decode_inventory(data, name)
            result = import_text(
                text,
                name,
                prune=prune,
                actor=None,
                dry_run=dry_run,
                format=format,
                allow_group_shrink=allow_group_shrink,
            )
        except InventoryError as exc:
            raise CommandError(str(exc)) from exc

        verbose = options["verbosity"] >= 2
        prefix = "dry run, nothing written: " if dry_run else ""
        self.stdout.write(f"{prefix}{name} ({result.format}): {result.summary()}")
        if verbose:
            for host in result.created:
                self.stdout.write(f"  + {host}")
            for host, changes in result.updated.items():
                self.stdout.write(f"  ~ {host}: {', '.join(changes)}")
            for group in result.groups_created:
                self.stdout.write(f"  + redundancy group {group}")
            for group in result.groups_updated:
                self.stdout.write(f"  ~ redundancy group {group}")
        # Removals and membership changes are always listed: they change what a limit protects.
        for host in result.removed:
            self.stdout.write(f"  - {host}")
        for line in result.membership_lines():
            self.stdout.write(f"  members of {line}")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
