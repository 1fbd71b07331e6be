"""`manage.py audit [--all | HOST …]`: the audit pipeline, synchronously, with a summary.

For cron and for people without a Celery worker: same collection, parsing and persistence as
the periodic audit.
"""

from django.core.management.base import BaseCommand, CommandError

from fleet.audit import run_audit
from fleet.models import Audit, Host

LABELS = {
    Audit.Outcome.OK: "ok",
    Audit.Outcome.PARTIAL: "partial",
    Audit.Outcome.UNREACHABLE: "unreachable",
    Audit.Outcome.HOST_KEY: "key problems",
    Audit.Outcome.ERROR: "errors",
}


class Command(BaseCommand):
    help = "Audit hosts over SSH now and print a summary."

    def add_arguments(self, parser):
        parser.add_argument("hosts", nargs="*", metavar="HOST", help="host names to audit")
        parser.add_argument("--all", action="store_true", help="audit every enabled host")
        parser.add_argument("--concurrency", type=int, help="SSH connections in flight")
        parser.add_argument("--chunk-size", type=int, help="hosts persisted per chunk")
        parser.add_argument(
            "--connect-timeout", type=float, help="seconds for TCP, banner, handshake, auth"
        )
        parser.add_argument("--command-timeout", type=float, help="seconds for the probe")

    def handle(self, *args, **options):
        names = options["hosts"]
        if options["all"] == bool(names):
            raise CommandError("name the hosts to audit, or pass --all (not both)")
        for flag in ("concurrency", "chunk_size"):
            if options[flag] is not None and options[flag] < 1:
                raise CommandError(f"--{flag.replace('_', '-')} must be at least 1")
        if options["all"]:
            ids = list(Host.objects.filter(enabled=True).values_list("pk", flat=True))
            if not ids:
                raise CommandError("no enabled hosts in the inventory")
        else:
            found = dict(Host.objects.filter(name__in=names).values_list("name", "pk"))
            missing = [n for n in names if n not in found]
            if missing:
                raise CommandError(f"not in the inventory: {', '.join(missing)}")
            ids = [found[n] for n in names]
        summary = run_audit(
            ids,
            chunk_size=options["chunk_size"],
            concurrency=options["concurrency"],
            connect_timeout=options["connect_timeout"],
            command_timeout=options["command_timeout"],
        )
        for host in summary.hosts:
            if host.outcome != Audit.Outcome.OK:
                self.stdout.write(f"{host.host}: {host.outcome}: {host.message}")
        for name, reason in summary.skipped:
            self.stdout.write(f"{name}: skipped: {reason}")
        counts = summary.outcomes
        parts = [f"{counts.get(o, 0)} {label}" for o, label in LABELS.items()]
        if summary.skipped:
            parts.append(f"{len(summary.skipped)} skipped")
        self.stdout.write(
            f"Audited {len(summary.hosts)} host(s) in {summary.duration:.1f}s: {', '.join(parts)}."
        )
        self.stdout.write(
            f"Findings: {summary.new_findings} new, {summary.resolved_findings} resolved."
        )
        audited = counts.get(Audit.Outcome.OK, 0) + counts.get(Audit.Outcome.PARTIAL, 0)
        if summary.hosts and not audited:
            raise CommandError("no host could be audited")
