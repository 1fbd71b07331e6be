"""Forms behind the dashboard's actions: acknowledgements, audits, host keys, inventory upload."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.utils import timezone

from fleet.inventory import InventoryError, decode_inventory
from fleet.models import Finding, Host

EXPIRY_CHOICES = [
    ("", "never expires"),
    ("1", "for 1 day"),
    ("7", "for 7 days"),
    ("30", "for 30 days"),
    ("90", "for 90 days"),
]
MAX_INVENTORY_BYTES = 5 * 1024 * 1024


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        max_length=2000,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Why is this acceptable?"}),
        error_messages={"required": "Say why: an acknowledgement needs a note."},
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")
    expires_at = forms.DateTimeField(
        required=False,
        label="or until (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        # datetime-local carries no zone: the label says UTC, so read it as UTC.
        value = value.replace(tzinfo=UTC) if timezone.is_naive(value) else value.astimezone(UTC)
        if value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("expires_in") and cleaned.get("expires_at"):
            raise forms.ValidationError("Choose a duration or a date, not both.")
        return cleaned

    def expiry(self) -> datetime | None:
        if self.cleaned_data.get("expires_at"):
            return self.cleaned_data["expires_at"]
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None


class BulkFindingsForm(AcknowledgeForm):
    """Acknowledge or unacknowledge several findings; the note matters only to acknowledge."""

    ACTIONS = [("acknowledge", "Acknowledge"), ("unacknowledge", "Unacknowledge")]

    action = forms.ChoiceField(choices=ACTIONS)
    finding = forms.ModelMultipleChoiceField(
        queryset=Finding.objects.filter(resolved_at__isnull=True).select_related("host"),
        error_messages={
            "required": "Select at least one finding.",
            "invalid_choice": "A selected finding is resolved or gone; refresh the page.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = False

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "acknowledge" and not cleaned.get("note"):
            self.add_error("note", "Say why: an acknowledgement needs a note.")
        return cleaned


class AuditRequestForm(forms.Form):
    SCOPES = [("selected", "Selected hosts"), ("all", "Whole fleet")]

    scope = forms.ChoiceField(choices=SCOPES)
    host = forms.ModelMultipleChoiceField(queryset=Host.objects.all(), required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope") == "selected" and not cleaned.get("host"):
            raise forms.ValidationError("Select at least one host to audit.")
        return cleaned

    def host_ids(self) -> list[int]:
        if self.cleaned_data["scope"] == "all":
            return list(Host.objects.filter(enabled=True).values_list("pk", flat=True))
        return [host.pk for host in self.cleaned_data["host"]]


class AcceptKeyForm(forms.Form):
    """Carries the fingerprint the operator saw, so a key swapped meanwhile is not accepted."""

    fingerprint = forms.CharField(max_length=100, widget=forms.HiddenInput)


class InventoryUploadForm(forms.Form):
    """Upload a file to preview; the preview carries the text back so importing loses nothing."""

    ACTIONS = [("preview", "Preview (dry run)"), ("import", "Import")]

    file = forms.FileField(required=False, label="Inventory file (INI, YAML or CSV)")
    text = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    filename = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)
    prune = forms.BooleanField(
        required=False, label="Remove hosts that are not in this file (prune)"
    )
    allow_group_shrink = forms.BooleanField(
        required=False,
        label="Let a redundancy group lose members while a rollout is open on it",
    )
    action = forms.ChoiceField(choices=ACTIONS, initial="preview")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_INVENTORY_BYTES:
                raise forms.ValidationError(
                    f"{upload.name} is {upload.size} bytes; the limit is {MAX_INVENTORY_BYTES}."
                )
            try:
                cleaned["text"] = decode_inventory(upload.read(), upload.name)
            except InventoryError as exc:
                raise forms.ValidationError(str(exc)) from exc
            cleaned["filename"] = upload.name
        elif not cleaned.get("text"):
            raise forms.ValidationError("Choose an inventory file to upload.")
        cleaned["filename"] = cleaned.get("filename") or "inventory"
        return cleaned
