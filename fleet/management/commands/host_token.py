"""`manage.py host_token HOST [--rotate]`: mint a host's ingest token for probe pushes."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.audit_log import record
from fleet.models import Host


class Command(BaseCommand):
    help = (
        "Make the token a host uses to push its probe output (POST /api/v1/hosts/<name>/probe). "
        "Only its hash is stored: the token is printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("host")
        parser.add_argument(
            "--rotate", action="store_true", help="replace an existing token (the old one stops)"
        )

    def handle(self, *args, **options):
        try:
            host = Host.objects.get(name=options["host"])
        except Host.DoesNotExist as exc:
            raise CommandError(f"{options['host']} is not in the inventory") from exc
        if host.ingest_token_hash and not options["rotate"]:
            raise CommandError(
                f"{host.name} already has an ingest token; --rotate replaces it "
                "(the old token stops working at once)"
            )
        rotated = bool(host.ingest_token_hash)
        with transaction.atomic():
            token = host.new_ingest_token()
            host.save(update_fields=["ingest_token_hash", "updated_at"])
            record(
                None,
                "host.ingest-token-rotated" if rotated else "host.ingest-token-created",
                host,
                "via manage.py host_token",
                host=host,
            )
        self.stdout.write(token)
