"""The three roles (Django groups) and the checks views use.

viewer reads everything; operator also acts on rollouts, findings, audits and host keys;
admin also edits policies, schedules, inventory and tokens. Superusers are admins.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
OPERATE_PERM = "fleet.operate_fleet"
ADMINISTER_PERM = "fleet.administer_fleet"


def is_operator(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(OPERATE_PERM))


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(ADMINISTER_PERM))


def _requires(check: Callable[[object], bool]):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


operator_required = _requires(is_operator)
admin_required = _requires(is_admin)
