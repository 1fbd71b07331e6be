"""Forms behind the rollout pages: a new rollout, confirmations, window overrides, policies."""

from datetime import datetime, timedelta
from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.core import validators
from django.utils import timezone

from fleet.models import RedundancyGroup
from reboots import selection, windows
from reboots.models import RebootPolicy, Where
from reboots.policy_fields import HEALTH_TIMEOUT, POLICY_DURATIONS, Bounds, normalise_command

SELECTION_CHOICES = [
    ("needs-reboot", "Hosts that need a reboot"),
    ("all", "All hosts"),
    ("group", "A redundancy group"),
    ("label", "Hosts with a label"),
    ("search", "Hosts matching a search"),
    ("hosts", "A list of hosts"),
]
# The form field that carries the value of each selection kind (errors land beside it).
SELECTION_FIELDS = {"group": "group", "label": "label", "search": "search", "hosts": "hosts"}


class NewRolloutForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        error_messages={"required": "Name the rollout, e.g. “web kernels, March”."},
    )
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": "Say why these hosts are rebooted: it goes into the audit log."
        },
    )
    policy = forms.ModelChoiceField(
        queryset=RebootPolicy.objects.all(),
        empty_label="Choose a policy",
        error_messages={
            "required": "Choose the policy that paces this rollout.",
            "invalid_choice": "That policy no longer exists; choose another.",
        },
    )
    kind = forms.ChoiceField(
        label="Hosts",
        choices=SELECTION_CHOICES,
        initial="needs-reboot",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose which hosts to reboot."},
    )
    group = forms.CharField(required=False, widget=forms.Select)
    label = forms.CharField(
        required=False, max_length=300, widget=forms.TextInput(attrs={"placeholder": "key=value"})
    )
    search = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "part of a name, address or kernel"}),
    )
    hosts = forms.CharField(
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "web-01 web-02, db-03 …"}),
        help_text="Host names separated by spaces, commas or new lines.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = RedundancyGroup.objects.order_by("name").values_list("name", flat=True)
        self.fields["group"].widget.choices = [("", "Choose a group"), *((n, n) for n in names)]
        self.selection_spec: dict | None = None

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind:
            return cleaned
        field = SELECTION_FIELDS.get(kind)
        value = cleaned.get(field, "") if field else None
        try:
            self.selection_spec = selection.normalise({"kind": kind, "value": value})
        except selection.SelectionError as exc:
            self.add_error(field or "kind", str(exc))
        return cleaned

    @property
    def plan_inputs(self) -> tuple[dict, RebootPolicy] | None:
        """(selection, policy) when both are valid, whatever the other fields say."""
        if self.selection_spec is None or "policy" not in getattr(self, "cleaned_data", {}):
            return None
        return self.selection_spec, self.cleaned_data["policy"]

    @property
    def plan_errors(self) -> list[str]:
        """The errors that stop a preview: the selection's and the policy's.

        A selection field not filled in yet (the group radio just picked, no group chosen) is
        not an error while the operator is still choosing: the preview just waits for it.
        """
        keys = ["policy", *SELECTION_FIELDS.values()]
        if self.data.get("kind"):
            keys.insert(1, "kind")
        return [
            message
            for key in keys
            if not (key in SELECTION_FIELDS.values() and not str(self.data.get(key, "")).strip())
            for message in self.errors.get(key, [])
        ]


class ConfirmForm(forms.Form):
    """The no-JavaScript confirmation step of pause, abort and skip."""

    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "optional; goes into the audit log"}
        ),
    )


OVERRIDE_HOURS = [
    ("1", "1 hour"),
    ("2", "2 hours"),
    ("4", "4 hours"),
    ("8", "8 hours"),
    ("24", "24 hours"),
]


class OverrideWindowForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Why must it run outside its window?"}
        ),
        error_messages={"required": "Say why: overriding a change window needs a reason."},
    )
    hours = forms.ChoiceField(label="For", choices=OVERRIDE_HOURS, initial="2")

    def until(self, now: datetime | None = None) -> datetime:
        now = now or timezone.now()
        return now + timedelta(hours=int(self.cleaned_data["hours"]))


# --- policies ----------------------------------------------------------------------------------

DAY_CHOICES = [(day, day.capitalize()) for day in windows.DAYS]


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class PolicyForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=time_zone_choices, initial="UTC", help_text="Change windows are in this zone."
    )

    class Meta:
        model = RebootPolicy
        fields = [
            "name",
            "description",
            "canary_size",
            "batch_size",
            "soak_seconds",
            "boot_timeout_seconds",
            "settle_timeout_seconds",
            "failure_budget",
            "approval_mode",
            "creator_cannot_approve",
            "time_zone",
            "reboot_command",
            "pre_command",
            "pre_command_where",
            "pre_command_timeout",
            "post_command",
            "post_command_where",
            "post_command_timeout",
            "drain_hosts",
            "service_budget_pct",
            "webhook_url",
        ]
        labels = {
            "soak_seconds": "Soak (seconds)",
            "boot_timeout_seconds": "Boot timeout (seconds)",
            "settle_timeout_seconds": "Settle timeout (seconds)",
            "pre_command_where": "runs",
            "post_command_where": "runs",
            "pre_command_timeout": "timeout (s)",
            "post_command_timeout": "timeout (s)",
            "drain_hosts": "Drain hosts through their group's traffic manager",
            "service_budget_pct": "Service budget (% failed probes)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, bounds in POLICY_DURATIONS.items():
            bound_field(self.fields[name], bounds)


class PolicyAdminForm(forms.ModelForm):
    """The Django admin's policy form: every field, with the same duration bounds as the page."""

    class Meta:
        model = RebootPolicy
        fields = [*PolicyForm.Meta.fields, "change_windows", "health_commands"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, bounds in POLICY_DURATIONS.items():
            if name in self.fields:
                bound_field(self.fields[name], bounds)


def bound_field(field: forms.Field, bounds: Bounds) -> None:
    """Give a number field `bounds`: checked, said in its help text and set on the input.

    The column's own range (0 to 2^31-1) is replaced: one message that says why, not two.
    """
    field.validators = [
        v
        for v in field.validators
        if not isinstance(v, validators.MinValueValidator | validators.MaxValueValidator)
    ]
    field.validators.append(bounds.check)
    field.widget.attrs.update(min=bounds.low, max=bounds.high)
    help_text = str(field.help_text or "").rstrip(".")
    field.help_text = f"{help_text}: {bounds.help}" if help_text else bounds.help


def _hh_mm(value) -> str:
    return value.strftime("%H:%M") if value is not None else ""


class WindowForm(forms.Form):
    """One weekly change window; a row left entirely blank is ignored."""

    days = forms.MultipleChoiceField(
        choices=DAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    start = forms.TimeField(
        required=False,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    end = forms.TimeField(
        required=False,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="At or before the start: the window ends the next day.",
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        days, start, end = cleaned.get("days"), cleaned.get("start"), cleaned.get("end")
        if not days and start is None and end is None:
            cleaned["window"] = None
            return cleaned
        if not days:
            self.add_error("days", "Tick at least one day.")
        if start is None:
            self.add_error("start", "When does the window open?")
        if end is None:
            self.add_error("end", "When does it close?")
        if days and start is not None and end is not None:
            cleaned["window"] = {"days": days, "start": _hh_mm(start), "end": _hh_mm(end)}
        return cleaned


class HealthCommandForm(forms.Form):
    """One health command that must exit 0 after a reboot; a blank row is ignored."""

    command = forms.CharField(required=False, max_length=1000)
    where = forms.ChoiceField(choices=Where.choices, initial=Where.HOST)
    timeout = forms.IntegerField(
        min_value=HEALTH_TIMEOUT.low,
        max_value=HEALTH_TIMEOUT.high,
        initial=30,
        help_text=HEALTH_TIMEOUT.help,
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        command = (cleaned.get("command") or "").strip()
        if not command or self.errors:
            cleaned["spec"] = None
            return cleaned
        try:
            spec = {"command": command, "where": cleaned["where"], "timeout": cleaned["timeout"]}
            cleaned["spec"] = normalise_command(spec, "health command")
        except ValueError as exc:
            self.add_error("command", str(exc))
        return cleaned


WindowFormSet = forms.formset_factory(WindowForm, extra=1, max_num=50, validate_max=True)
HealthCommandFormSet = forms.formset_factory(
    HealthCommandForm, extra=1, max_num=20, validate_max=True
)


def window_initial(policy: RebootPolicy | None) -> list[dict]:
    if policy is None:
        return []
    return [
        {"days": w["days"], "start": w["start"], "end": w["end"]}
        for w in windows.normalise(policy.change_windows or [])
    ]


def health_initial(policy: RebootPolicy | None) -> list[dict]:
    if policy is None:
        return []
    return [
        {"command": spec["command"], "where": spec["where"], "timeout": spec["timeout"]}
        for spec in policy.health_commands or []
    ]
