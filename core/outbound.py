"""The one place Rebootable talks HTTP to the outside world: webhooks, HTTP gates, Alertmanager.

Every request goes through an address policy, because the URLs come from admins' forms and the
answers from servers we do not control (a gate or webhook URL must not become a way to reach the
database, the cloud's metadata service or a neighbour's admin port):

- the name is resolved here, every address it resolves to is checked, and the connection goes
  to a checked address (no second lookup that a rebinding DNS server could answer differently);
- loopback, private (RFC 1918, CGNAT, IPv6 ULA) and link-local addresses are refused unless
  OUTBOUND_ALLOW_PRIVATE is set; link-local (169.254.0.0/16, the metadata service) stays refused
  even then, as do multicast, unspecified and reserved ranges; OUTBOUND_ALLOWED_NETWORKS lists
  CIDR ranges allowed regardless (e.g. "10.20.0.0/16" for an internal Alertmanager);
- redirects are followed for GET and HEAD only, at most MAX_REDIRECTS, each hop checked again,
  never from https down to http; other methods get the 3xx answer itself;
- a proxy from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) is used, and the destination
  is still checked here;
- messages name only the origin (scheme://host:port): URL paths and queries often carry tokens
  (Slack-style webhooks), so they are neither logged nor put in errors. Bodies are returned to
  the caller, never put in an error message: callers decide who may see them.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

USER_AGENT = "rebootable/1"
BODY_LIMIT = 2 * 1024 * 1024  # an answer larger than this is cut (alerts lists stay far below)
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
FOLLOWS_REDIRECTS = ("GET", "HEAD")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """The request could not be made or got no usable answer."""


class Refused(OutboundError):
    """The address policy refused the destination (or a redirect's)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    url: str = ""  # the URL that answered (after redirects)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise OutboundError(f"the answer from {origin(self.url)} is not JSON") from exc


# --- naming URLs without their secrets --------------------------------------------------------


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: safe to log and to show (no user, path or query)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a malformed URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redact(url: str) -> str:
    """The URL without credentials, query and fragment: for operators, who need the path."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(a malformed URL)"
    query = "?…" if parts.query else ""
    return f"{origin(url)}{parts.path}{query}"


# --- the address policy -----------------------------------------------------------------------


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(text, strict=False) for text in settings.OUTBOUND_ALLOWED_NETWORKS]


def refusal(address: IPAddress) -> str:
    """Why the policy refuses this address ("" when it is allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed_networks()):
        return ""
    allow_private = settings.OUTBOUND_ALLOW_PRIVATE
    if address.is_loopback:
        return "" if allow_private else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "" if allow_private else "a private address"
    return ""


def resolve(host: str, port: int) -> list[tuple]:
    """Resolve and check every address; the addrinfo tuples to connect to, or Refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError(f"{host} does not resolve: {exc.strerror}") from exc
    if not infos:
        raise OutboundError(f"{host} does not resolve")
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = refusal(address)
        if why:
            raise Refused(
                f"{host} is {why} ({address}); outbound requests to it are not allowed "
                "(OUTBOUND_ALLOW_PRIVATE / OUTBOUND_ALLOWED_NETWORKS)"
            )
    return infos


def _connect_to(infos: list[tuple], timeout: float, source_address=None) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


# --- one request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hop:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    authorization: str


def _parse(url: str) -> _Hop:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise OutboundError("the URL has no host")
    authorization = ""
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        authorization = f"Basic {token}"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default = 443 if parts.scheme == "https" else 80
    return _Hop(parts.scheme, parts.hostname, port or default, target, authorization)


def _proxy_for(hop: _Hop) -> tuple[str, int] | None:
    proxy = urllib.request.getproxies().get(hop.scheme)
    if not proxy or urllib.request.proxy_bypass(hop.host):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname or "", parts.port or 3128


def _open(hop: _Hop, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the hop's (checked) destination, and the request target to send."""
    infos = resolve(hop.host, hop.port)  # checked even when a proxy makes the connection
    proxy = _proxy_for(hop)
    conn: http.client.HTTPConnection
    if hop.scheme == "https":
        conn = http.client.HTTPSConnection(
            proxy[0] if proxy else hop.host,
            proxy[1] if proxy else hop.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
        if proxy:
            conn.set_tunnel(hop.host, hop.port)
    else:
        conn = http.client.HTTPConnection(
            proxy[0] if proxy else hop.host, proxy[1] if proxy else hop.port, timeout=timeout
        )
    if not proxy:
        # Connect to the addresses checked above; TLS still verifies the name (SNI, certificate).
        conn._create_connection = (  # type: ignore[attr-defined]
            lambda _address, timeout, source=None: _connect_to(infos, timeout, source)
        )
        return conn, hop.target
    if hop.scheme == "http":
        port = "" if hop.port == 80 else f":{hop.port}"
        return conn, f"http://{hop.host}{port}{hop.target}"
    return conn, hop.target


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    payload: object = None,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> Answer:
    """Make one request; any HTTP status is an Answer, a failure or a refusal an OutboundError."""
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    method = method.upper()
    body = None
    sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    if payload is not None:
        body = json.dumps(payload).encode()
        sent["Content-Type"] = "application/json"
    for _hop in range(MAX_REDIRECTS + 1):
        status, answer_body, location = _one(method, url, body, sent, timeout)
        if status not in REDIRECTS or not location or method not in FOLLOWS_REDIRECTS:
            return Answer(status, answer_body, url)
        following = urllib.parse.urljoin(url, location)
        if url.startswith("https:") and not following.startswith("https:"):
            raise Refused(f"{origin(url)} redirected from https to {origin(following)}")
        url = following
    raise OutboundError(f"{origin(url)}: too many redirects")


def _one(method, url, body, headers, timeout) -> tuple[int, bytes, str]:
    hop = _parse(url)
    where = origin(url)
    try:
        conn, target = _open(hop, timeout)
    except OutboundError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    sent = dict(headers)
    if hop.authorization:
        sent["Authorization"] = hop.authorization
    try:
        conn.request(method, target, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read(BODY_LIMIT) if method != "HEAD" else b""
        return response.status, data, response.getheader("Location") or ""
    except TimeoutError as exc:
        raise OutboundError(f"{where} did not answer within {timeout:g}s") from exc
    except ssl.SSLError as exc:
        raise OutboundError(f"{where}: TLS failed: {exc.reason or exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise OutboundError(f"{where} could not be reached: {reason}") from exc
    finally:
        conn.close()


def post_json(url: str, payload: object, *, timeout: float) -> Answer:
    return request("POST", url, timeout=timeout, payload=payload)
