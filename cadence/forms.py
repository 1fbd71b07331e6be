"""Forms behind the cadence pages: schedules, freeze periods, gates, freeze overrides."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms

from cadence import freeze
from cadence.models import GATE_TIMEOUT, FreezePeriod, Gate, RebootSchedule
from fleet.models import RedundancyGroup
from reboots import selection, windows
from reboots.forms import SELECTION_CHOICES, SELECTION_FIELDS, bound_field, time_zone_choices


class ScheduleForm(forms.ModelForm):
    kind = forms.ChoiceField(
        label="Hosts", choices=SELECTION_CHOICES, initial="all", widget=forms.RadioSelect
    )
    group = forms.CharField(required=False, widget=forms.Select)
    label = forms.CharField(
        required=False, max_length=300, widget=forms.TextInput(attrs={"placeholder": "key=value"})
    )
    search = forms.CharField(required=False, max_length=200)
    hosts = forms.CharField(
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Host names separated by spaces, commas or new lines.",
    )

    class Meta:
        model = RebootSchedule
        fields = [
            "name",
            "description",
            "policy",
            "max_uptime_days",
            "lead_days",
            "pace_per_window",
            "max_per_day",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = RedundancyGroup.objects.order_by("name").values_list("name", flat=True)
        self.fields["group"].widget.choices = [("", "Choose a group"), *((n, n) for n in names)]
        spec = self.instance.selection if self.instance.pk else {}
        if spec and not self.is_bound:
            self.initial["kind"] = spec.get("kind")
            field = SELECTION_FIELDS.get(spec.get("kind"))
            if field:
                value = spec.get("value")
                self.initial[field] = " ".join(value) if isinstance(value, list) else value

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind:
            field = SELECTION_FIELDS.get(kind)
            value = cleaned.get(field, "") if field else None
            try:
                self.instance.selection = selection.normalise({"kind": kind, "value": value})
            except selection.SelectionError as exc:
                self.add_error(field or "kind", str(exc))
        return cleaned


class FreezeForm(forms.Form):
    """A freeze from a first to a last local day, or between two exact local times."""

    reason = forms.CharField(max_length=200)
    schedule = forms.ModelChoiceField(
        queryset=RebootSchedule.objects.all(),
        required=False,
        empty_label="Fleet-wide (every rollout)",
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial="UTC")
    starts = forms.CharField(
        help_text="A day (2026-12-24) or a local time (2026-12-24 18:00).",
        widget=forms.TextInput(attrs={"placeholder": "2026-12-24"}),
    )
    ends = forms.CharField(
        help_text="A day (the freeze lasts until that day ends) or a local time.",
        widget=forms.TextInput(attrs={"placeholder": "2026-12-26"}),
    )

    @staticmethod
    def _parse(text: str) -> datetime | None:
        text = text.strip().replace("T", " ")
        for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        return None

    def clean(self) -> dict:
        cleaned = super().clean()
        zone = cleaned.get("time_zone")
        first, last = (self._parse(cleaned.get(key) or "") for key in ("starts", "ends"))
        for key, value in (("starts", first), ("ends", last)):
            if cleaned.get(key) and value is None:
                self.add_error(key, "write a day as 2026-12-24 or a time as 2026-12-24 18:00")
        if not zone or first is None or last is None or self.errors:
            return cleaned
        whole_days = ":" not in cleaned["starts"] and ":" not in cleaned["ends"]
        try:
            if whole_days:
                starts, ends = freeze.bounds_from_dates(first.date(), last.date(), zone)
            else:
                tz = windows.zone(zone)
                if ":" not in cleaned["ends"]:  # a day: until that day ends
                    last = datetime.combine(last.date() + timedelta(days=1), time(0, 0))
                starts, ends = first.replace(tzinfo=tz), last.replace(tzinfo=tz)
        except freeze.FreezeError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if ends <= starts:
            raise forms.ValidationError("the freeze must end after it starts")
        cleaned["starts_at"], cleaned["ends_at"] = starts, ends
        return cleaned

    def save(self, user) -> FreezePeriod:
        data = self.cleaned_data
        return FreezePeriod.objects.create(
            reason=data["reason"].strip(),
            schedule=data["schedule"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            time_zone=data["time_zone"],
            created_by=user,
        )


def _gate_formfield(field, **kwargs):
    # Alertmanager and in-house health endpoints are often plain http: do not assume https.
    if field.name == "url":
        kwargs["assume_scheme"] = "http"
    return field.formfield(**kwargs)


class GateForm(forms.ModelForm):
    class Meta:
        model = Gate
        fields = [
            "name",
            "kind",
            "url",
            "matchers",
            "silence_matchers",
            "timeout_seconds",
            "enabled",
            "policy",
            "schedule",
        ]
        formfield_callback = _gate_formfield
        labels = {"url": "URL", "timeout_seconds": "Timeout (seconds)"}
        widgets = {
            "matchers": forms.Textarea(attrs={"rows": 2}),
            "silence_matchers": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["timeout_seconds"]
        field.help_text = "How long one question to the gate may take"
        bound_field(field, GATE_TIMEOUT)
        field.widget.attrs["step"] = "any"


class FreezeOverrideForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why this rollout may reboot during a freeze."},
    )
    hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 14,
        help_text="For how many hours. Empty: until the rollout ends.",
    )
