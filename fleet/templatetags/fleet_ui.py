"""Template helpers for the dashboard: times, durations, sort links, pills."""

from datetime import UTC, datetime, timedelta

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

_UNITS = ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def _span(seconds: float, parts: int = 1) -> str:
    """A compact human duration: "3 min", "12 d 4 h"."""
    seconds = int(abs(seconds))
    if seconds < 1:
        return "0 s"
    out = []
    for size, unit in _UNITS:
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out.append(f"{count} {unit}")
            if len(out) == parts:
                break
        elif out:
            break  # keep the parts adjacent: "2 d 3 h", never "2 d 5 s"
    return " ".join(out)


def relative(value: datetime, now: datetime | None = None) -> str:
    now = now or timezone.now()
    delta = (now - value).total_seconds()
    if abs(delta) < 45:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(delta)}"


@register.simple_tag
def ts(value: datetime | None, empty: str = "never"):
    """`<time>` in UTC with the exact ISO value on hover and a relative label."""
    if value is None:
        return format_html('<span class="muted">{}</span>', empty)
    value = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        value.isoformat().replace("+00:00", "Z"),
        value.strftime("%Y-%m-%d %H:%M:%S"),
        relative(value),
    )


@register.simple_tag
def abs_ts(value: datetime | None, empty: str = "—"):
    """`<time>` with the absolute time: UTC in the HTML, the viewer's zone once the page script
    runs (UTC and the relative time then on hover)."""
    if value is None:
        return format_html('<span class="muted">{}</span>', empty)
    value = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-abs title="{}">{} UTC</time>',
        value.isoformat().replace("+00:00", "Z"),
        relative(value),
        value.strftime("%Y-%m-%d %H:%M"),
    )


@register.filter
def since(value: datetime | None, parts: int = 2) -> str:
    """Time elapsed since `value` ("12 d 4 h"): uptime from booted_at."""
    if value is None:
        return "—"
    return _span((timezone.now() - value).total_seconds(), parts)


@register.filter
def duration_ms(value: int | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    if value < 60000:
        return f"{value / 1000:.1f} s"
    return _span(value / 1000, 2)


@register.filter
def seconds_span(value: timedelta | None) -> str:
    return "—" if value is None else _span(value.total_seconds(), 2)


@register.simple_tag
def qs(params: QueryDict, **changes) -> str:
    """`params` as a query string ("?a=1&b=2") with `changes` applied; None or "" drops a key.

    Takes the parameters explicitly (not request.GET) so a fragment rendered in answer to a
    POST still links with the filters of the page it belongs to.
    """
    merged = params.copy() if isinstance(params, QueryDict) else QueryDict(mutable=True)
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    for key in [k for k, v in merged.lists() if not any(v)]:
        merged.pop(key)
    encoded = merged.urlencode()
    return f"?{encoded}" if encoded else ""


@register.simple_tag
def sort_value(params: QueryDict, key: str, first: str = "") -> str:
    """The `sort` a column header links to: toggles direction when already sorted by it.

    `first` is "-" for columns whose useful first view is descending (most findings first).
    """
    current = params.get("sort", "")
    if current == key:
        return f"-{key}"
    if current == f"-{key}":
        return key
    return f"{first}{key}"


@register.simple_tag
def aria_sort(params: QueryDict, key: str) -> str:
    current = params.get("sort", "")
    if current == key:
        return "ascending"
    if current == f"-{key}":
        return "descending"
    return "none"


@register.filter
def get(mapping, key):
    """Dictionary lookup with a variable key."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def elided_pages(paginator, number: int):
    return paginator.get_elided_page_range(number, on_each_side=2, on_ends=1)
