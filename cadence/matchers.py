"""Alertmanager label matchers: parse what people write, template `{host}`, format for the API.

People write matchers the way Alertmanager and amtool print them:

    severity="critical", cluster=~"prod.*"
    {alertname!="Watchdog"}
    instance=~"{host}:.*"

one matcher per comma or line, outer braces optional, values quoted (with `\\"` and `\\\\`
escapes) or bare. `{host}` in a value is replaced by a host's name when a gate is checked
for a host or a silence is opened; in a regular expression the name is escaped first, so the
dots of `web-01.example.com` match only dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HOST_PLACEHOLDER = "{host}"
OPERATORS = ("=~", "!~", "!=", "=")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MatcherError(ValueError):
    """Matchers that cannot be understood; the message says which one and why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    @property
    def mentions_host(self) -> bool:
        return HOST_PLACEHOLDER in self.value

    def for_host(self, host: str) -> Matcher:
        filler = re.escape(host) if self.is_regex else host
        return Matcher(self.name, self.op, self.value.replace(HOST_PLACEHOLDER, filler))

    def text(self) -> str:
        """The matcher as Alertmanager's `filter` parameter and amtool write it."""
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    def silence_json(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


def _split(text: str) -> list[str]:
    """Split on commas and newlines that are outside quoted values."""
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char in ",\n" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise MatcherError(f"unclosed quote in {text.strip()!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _unquote(raw: str, item: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise MatcherError(f"{item!r}: a value is either quoted or bare, not both")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise MatcherError(f"{item!r}: the value's closing quote is missing")
    out, chars = [], iter(raw[1:-1])
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append({"n": "\n", "t": "\t"}.get(following, following))
        elif char == '"':
            raise MatcherError(f'{item!r}: escape a quote inside a value as \\"')
        else:
            out.append(char)
    return "".join(out)


def parse_one(item: str) -> Matcher:
    for op in OPERATORS:
        # The first operator in the text wins; "=~" and "!=" are tried before "=".
        index = item.find(op)
        if index <= 0:
            continue
        if any(0 <= item.find(other) < index for other in OPERATORS if other != op):
            continue
        name = item[:index].strip()
        raw = item[index + len(op) :].strip()
        if not _NAME.match(name):
            raise MatcherError(f"{item!r}: {name!r} is not a label name")
        value = _unquote(raw, item)
        matcher = Matcher(name, op, value)
        if matcher.is_regex:
            try:
                re.compile(value.replace(HOST_PLACEHOLDER, "host"))
            except re.error as exc:
                raise MatcherError(f"{item!r}: not a regular expression ({exc})") from None
        return matcher
    raise MatcherError(f'{item!r}: write a matcher as name="value" (or !=, =~, !~)')


def parse(text: str) -> list[Matcher]:
    """Every matcher in `text`; an empty text is an empty list."""
    text = (text or "").strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return [parse_one(item) for item in _split(text)]


def mentions_host(matchers: list[Matcher]) -> bool:
    return any(matcher.mentions_host for matcher in matchers)


def for_host(matchers: list[Matcher], host: str) -> list[Matcher]:
    return [matcher.for_host(host) for matcher in matchers]


def format_text(matchers: list[Matcher]) -> str:
    return ", ".join(matcher.text() for matcher in matchers)


def matches(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    """Whether a label set matches every matcher (regexes anchored, as Alertmanager does)."""
    for matcher in matchers:
        value = labels.get(matcher.name, "")
        if matcher.is_regex:
            hit = re.fullmatch(matcher.value, value) is not None
        else:
            hit = value == matcher.value
        if hit != matcher.is_equal:
            return False
    return True
