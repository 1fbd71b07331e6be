"""Demo accounts: one per role, with fresh passwords printed at start-up."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

DEMO_ACCOUNTS = (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer"))


def ensure_demo_users() -> list[tuple[str, str, str]]:
    """Create (or reset) the demo users; return (username, password, role) triples."""
    User = get_user_model()
    created = []
    for username, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = role == "admin"
        user.is_superuser = role == "admin"
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        created.append((username, password, role))
    return created
