"""API tokens in the Django admin: prefixes only, never a key or its hash. Tokens are made on
the API tokens page or with `manage.py create_api_token` (the key is shown once, there)."""

from django.contrib import admin

from api.models import ApiToken
from core.admin import AuditedAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    audit_noun = "api-token"
    list_display = ["hint", "user", "created_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "prefix"]
    fields = ["user", "prefix", "created_at", "expires_at"]
    readonly_fields = ["user", "prefix", "created_at"]

    @admin.display(description="Key", ordering="prefix")
    def hint(self, obj: ApiToken) -> str:
        return obj.hint

    def has_add_permission(self, request):
        return False
