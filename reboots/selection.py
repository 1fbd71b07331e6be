"""Which hosts a rollout covers.

A selection is plain JSON, stored on the rollout: `{"kind": K, "value": V}` with K one of
  all           every host
  needs-reboot  hosts that need a reboot, for any reason (flags, pending kernel, uptime)
  group         hosts of the redundancy group named V
  label         hosts carrying the label V ("key=value")
  search        hosts whose name, address or kernel contains V
  hosts         the hosts named in the list V
Cordoned (disabled) hosts are never selected.
"""

from django.db.models import Q, QuerySet
from django.utils import timezone

from fleet.limits import Limits
from fleet.models import Host, RedundancyGroup

KINDS = ("all", "needs-reboot", "group", "label", "search", "hosts")


class SelectionError(ValueError):
    """A selection that cannot be used; the message says why."""


def normalise(spec: object) -> dict:
    """Check a selection and return its canonical form."""
    if not isinstance(spec, dict):
        raise SelectionError("a selection is {kind, value}")
    kind = spec.get("kind")
    value = spec.get("value")
    if kind not in KINDS:
        raise SelectionError(f"unknown selection {kind!r}; use one of {', '.join(KINDS)}")
    if kind in ("all", "needs-reboot"):
        return {"kind": kind}
    if kind == "hosts":
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list) or not value:
            raise SelectionError("name at least one host")
        names = sorted({str(name).strip() for name in value if str(name).strip()})
        known = set(Host.objects.filter(name__in=names).values_list("name", flat=True))
        unknown = [name for name in names if name not in known]
        if unknown:
            raise SelectionError(f"no such host: {', '.join(unknown[:10])}")
        return {"kind": kind, "value": names}
    text = str(value or "").strip()
    if not text:
        raise SelectionError(f"a {kind} selection needs a value")
    if kind == "group" and not RedundancyGroup.objects.filter(name=text).exists():
        raise SelectionError(f"no redundancy group named {text!r}")
    return {"kind": kind, "value": text}


def hosts(spec: dict) -> QuerySet[Host]:
    """The enabled hosts a selection names, ordered by name."""
    spec = normalise(spec)
    kind, value = spec["kind"], spec.get("value")
    queryset = Host.objects.filter(enabled=True)
    if kind == "needs-reboot":
        queryset = queryset.filter(Limits.load(timezone.now()).needs_reboot_q())
    elif kind == "group":
        queryset = queryset.filter(groups__name=value)
    elif kind == "label":
        queryset = queryset.filter(labels__has_label=value)
    elif kind == "search":
        queryset = queryset.filter(
            Q(name__icontains=value)
            | Q(address__icontains=value)
            | Q(booted_kernel__icontains=value)
        )
    elif kind == "hosts":
        queryset = queryset.filter(name__in=value)
    return queryset.distinct().order_by("name")


def describe(spec: dict) -> str:
    """A sentence for people: "hosts in group web", "3 named hosts"."""
    spec = normalise(spec)
    kind, value = spec["kind"], spec.get("value")
    return {
        "all": lambda: "all hosts",
        "needs-reboot": lambda: "hosts that need a reboot",
        "group": lambda: f"hosts in group {value}",
        "label": lambda: f"hosts labelled {value}",
        "search": lambda: f"hosts matching “{value}”",
        "hosts": lambda: ", ".join(value) if len(value) <= 5 else f"{len(value)} named hosts",
    }[kind]()
