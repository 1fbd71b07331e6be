"""Who may read the REST export: every role may read (viewer and up), nobody writes.

The check is the model's own `view_<model>` permission, which the role groups carry (see the
roles migrations), so a logged-in user outside every role reads nothing.
"""

from __future__ import annotations

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def view_permission(model) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


class CanReadModel(BasePermission):
    """Safe methods only, by users whose role may view the endpoint's model."""

    message = "Your role does not allow reading this data (ask an admin for the viewer role)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method not in SAFE_METHODS:
            # The export is read-only for everyone, whatever actions a viewset may gain later.
            raise MethodNotAllowed(request.method)
        return user.has_perm(view_permission(view.queryset.model))


class CanReadFleet(BasePermission):
    """For endpoints that are not about one model (the schema): the viewer role."""

    message = CanReadModel.message

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method not in SAFE_METHODS:
            raise MethodNotAllowed(request.method)
        return user.has_perm("fleet.view_host")
