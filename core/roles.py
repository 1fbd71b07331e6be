"""The three roles (Django groups) and the checks views use.

viewer reads everything; operator also acts on rollouts, findings, audits and host keys;
admin also edits policies, schedules, inventory and tokens. Superusers are admins.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
VIEW_PERM = "fleet.view_host"
OPERATE_PERM = "fleet.operate_fleet"
ADMINISTER_PERM = "fleet.administer_fleet"

# What each role adds to the one before it, in the words the 403 page uses.
ROLE_ALLOWS = {
    VIEWER: "reads every page: fleet, drift, rollouts, cadence and reports",
    OPERATOR: "also acts on rollouts, findings, audits and host keys",
    ADMIN: "also edits policies, schedules, inventory and API tokens",
}


class RoleRequired(PermissionDenied):
    """A refusal that names the role the action needs, so the 403 page can say so."""

    def __init__(self, role: str):
        super().__init__(f"This needs the {role} role.")
        self.role = role


def is_operator(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(OPERATE_PERM))


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(ADMINISTER_PERM))


def role_of(user) -> str | None:
    """The user's highest role, or None for an anonymous user or one in no role."""
    if is_admin(user):
        return ADMIN
    if is_operator(user):
        return OPERATOR
    if user and user.is_authenticated and user.has_perm(VIEW_PERM):
        return VIEWER
    return None


def _requires(check: Callable[[object], bool], role: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise RoleRequired(role)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


operator_required = _requires(is_operator, OPERATOR)
admin_required = _requires(is_admin, ADMIN)
