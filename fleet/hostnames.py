"""What a host's name and SSH address may be, and how any stored name travels in a URL.

Names follow RFC 1123 (dot-separated labels of letters, digits and inner hyphens, at most 63
characters each, 253 in all) widened to what Ansible inventories really hold: underscores
(`db_primary`), an absolute name's trailing dot, and IP addresses (v4 or v6) used as names.
Nothing may start with `-`: a name or address reaches `ssh`-like tools, where it would be read
as an option. Addresses are the same, or an IP address with an IPv6 zone (`fe80::1%eth0`).

Rows written before these rules (or by hand) may still hold any text; `HostNameConverter`
makes every page link to them anyway.
"""

import ipaddress
import re
from urllib.parse import quote, unquote

from django.core.exceptions import ValidationError

MAX_NAME = 253
MAX_ADDRESS = 255
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def host_name_problem(value: str, *, what: str = "host name", max_length: int = MAX_NAME) -> str:
    """Why `value` is not a valid name ("" when it is): short, without quoting the value."""
    if not value:
        return f"a {what} cannot be empty"
    if len(value) > max_length:
        return f"a {what} has at most {max_length} characters"
    if value.startswith("-"):
        return f"a {what} cannot start with '-' (it would read as a command-line option)"
    if _is_ip(value):
        return ""
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    for label in labels:
        if not _LABEL.match(label):
            return (
                f"a {what} is made of dot-separated labels of letters, digits, '_' and inner "
                "'-' (1-63 characters each)"
            )
    return ""


def address_problem(value: str) -> str:
    return host_name_problem(value, what="address", max_length=MAX_ADDRESS)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_host_name(value: str) -> None:
    problem = host_name_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_host_name")


def validate_address(value: str) -> None:
    problem = address_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_address")


# Characters `reverse()` leaves alone besides unreserved ones (django.urls.resolvers).
_KEPT = "!$&'()*+,;=:@~"


class HostNameConverter:
    """`<host:name>`: one path segment for any stored name, `evil/slash` and `..` included.

    `to_url` percent-quotes what would end or change the segment (`/`, `%`, control and
    non-ASCII characters; `.` and `..` whole); `reverse()` quotes the `%` once more, so the
    decoded path still holds the quoted form and `to_python` unquotes it. Plain names
    (letters, digits, `.-_`) come out unchanged. A NUL never names a host (PostgreSQL text
    cannot hold one): such a path does not match, which answers 404.
    """

    regex = r"[^/\x00]+"

    def to_python(self, value: str) -> str:
        name = unquote(value)
        if "\x00" in name:
            raise ValueError("a host name never holds a NUL")
        return name

    def to_url(self, value: str) -> str:
        if value in (".", ".."):
            return value.replace(".", "%2E")
        return quote(value, safe=_KEPT)
