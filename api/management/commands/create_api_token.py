"""`manage.py create_api_token USER [--rotate]`: print a REST API token for a user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.tokens import TokenError, can_read, create_token, expiry_after


class Command(BaseCommand):
    help = (
        "Make the token USER sends as 'Authorization: Token <key>' to read the REST API "
        "(/api/v1/). The token is printed on standard output, once: only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="username")
        parser.add_argument(
            "--rotate", action="store_true", help="replace an existing token (the old one stops)"
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=0,
            metavar="N",
            help="refuse the token N days from now (default 0: it never expires)",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(options["user"])
        except User.DoesNotExist as exc:
            raise CommandError(f"no user named {options['user']!r}") from exc
        try:
            if options["expires_days"] < 0:
                raise TokenError("--expires-days must be 0 (never) or more")
            expires_at = expiry_after(options["expires_days"])
            token = create_token(user, rotate=options["rotate"], expires_at=expires_at)
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        if not can_read(user):
            self.stderr.write(
                f"warning: {user.get_username()} has no role that may read the API "
                "(add them to the viewer group): requests will get 403"
            )
        self.stdout.write(token.key)
