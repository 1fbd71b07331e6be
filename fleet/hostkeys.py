"""Host-key trust: SSH targets with their pinned keys, offered/changed keys, known_hosts import.

A key becomes trusted only by an operator's decision: accepting the key a host offered (the UI
shows its SHA256 fingerprint) or importing a known_hosts file. A changed key blocks the host
and opens a `host-key-changed` finding that only an operator's acceptance resolves.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit_log import build as build_event
from core.audit_log import record, record_many
from fleet import ssh
from fleet.findings import HOST_KEY_CHANGED
from fleet.models import Finding, Host

# When known_hosts holds several keys for a host, pin the one our client asks for first.
KEY_PREFERENCE = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


# --- targets ----------------------------------------------------------------------------------


def target_for(host: Host) -> ssh.Target:
    """The SSH target for a host: address, user, pinned key and its bastion, if any.

    A bastion's key must be pinned too: the bastion is looked up in the inventory by name or
    address (it may be a disabled host there, so it is never audited nor rebooted itself).
    """
    bastion = None
    jump = host.effective_bastion
    if jump:
        try:
            spec = ssh.parse_bastion(jump)
        except ValueError as exc:
            raise ssh.Unreachable(f"{host.name}: {exc}") from exc
        candidates = Host.objects.filter(
            Q(name=spec.host) | Q(address=spec.host), port=spec.port
        ).exclude(pk=host.pk)
        known = min(candidates, key=lambda h: (not _pinned(h), h.name != spec.host), default=None)
        bastion = ssh.Target(
            name=known.name if known else spec.host,
            address=known.address if known else spec.host,
            port=spec.port,
            user=spec.user or (known.ssh_user if known else host.ssh_user),
            host_key_type=known.host_key_type if known and _pinned(known) else "",
            host_key=known.host_key if known and _pinned(known) else "",
        )
    return ssh.Target(
        name=host.name,
        address=host.address,
        port=host.port,
        user=host.ssh_user,
        host_key_type=host.host_key_type if _pinned(host) else "",
        host_key=host.host_key if _pinned(host) else "",
        bastion=bastion,
    )


def _pinned(host: Host) -> bool:
    # A host whose key changed stays blocked: its old key is not trusted either.
    return host.host_key_state == Host.KeyState.PINNED and bool(host.host_key)


@contextlib.contextmanager
def open_session(host: Host, **options) -> Iterator[ssh.Session]:
    """Connect to a host and record host-key problems where operators will see them.

    For one-off work (the rollout engine's pre-flight, reboot and verification):
    `with open_session(host, command_timeout=30) as s: s.run(...)`.
    """
    try:
        session = ssh.connect(target_for(host), **options)
    except (ssh.HostKeyUnknown, ssh.HostKeyChanged) as exc:
        record_key_problem(host, exc)
        raise
    try:
        yield session
    finally:
        session.close()


# --- recording what hosts offer ---------------------------------------------------------------


def record_key_problem(host: Host, exc: ssh.HostKeyUnknown | ssh.HostKeyChanged) -> None:
    """Store the offered key on the host it belongs to (the host, or its bastion's record)."""
    owner = host
    if exc.target is not None and exc.target.name != host.name:
        owner = Host.objects.filter(name=exc.target.name).first()
        if owner is None:
            return  # a bastion not in the inventory: the error message says what to do
    if isinstance(exc, ssh.HostKeyChanged):
        record_key_changed(owner, exc.offered_type, exc.offered_key)
    else:
        record_key_offered(owner, exc.offered_type, exc.offered_key)


def record_key_offered(host: Host, key_type: str, key_b64: str) -> None:
    """A host with no pinned key offered this one: keep it for an operator to accept."""
    now = timezone.now()
    unpinned = Host.objects.filter(
        pk=host.pk, host_key_state__in=[Host.KeyState.UNKNOWN, Host.KeyState.OFFERED]
    )
    # key_offered_at tells since when this key has been offered; it moves only when it changes.
    unpinned.exclude(offered_key_type=key_type, offered_key=key_b64).update(
        offered_key_type=key_type, offered_key=key_b64, key_offered_at=now
    )
    unpinned.update(host_key_state=Host.KeyState.OFFERED)


def record_key_changed(host: Host, key_type: str, key_b64: str) -> None:
    """The host offered a key other than the pinned one: block it and open a finding."""
    now = timezone.now()
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).exclude(
            offered_key_type=key_type, offered_key=key_b64
        ).update(offered_key_type=key_type, offered_key=key_b64, key_offered_at=now)
        Host.objects.filter(
            pk=host.pk, host_key_state__in=[Host.KeyState.PINNED, Host.KeyState.CHANGED]
        ).update(host_key_state=Host.KeyState.CHANGED)
        host.refresh_from_db(
            fields=["host_key_state", "host_key_type", "host_key", "offered_key_type"]
        )
        detail = (
            f"Pinned {host.host_key_type} {_fingerprint(host.host_key_type, host.host_key)}, "
            f"offered {key_type} {_fingerprint(key_type, key_b64)}. Nothing runs on this host "
            "until an operator verifies and accepts the new key."
        )
        refreshed = Finding.objects.filter(
            host=host, kind=HOST_KEY_CHANGED, resolved_at__isnull=True
        ).update(last_seen=now, detail=detail)
        if not refreshed:
            Finding.objects.bulk_create(
                [
                    Finding(
                        host=host,
                        kind=HOST_KEY_CHANGED,
                        subject="",
                        severity=Finding.Severity.HIGH,
                        detail=detail,
                        first_seen=now,
                        last_seen=now,
                    )
                ],
                ignore_conflicts=True,
            )


# --- operator decisions -----------------------------------------------------------------------


def accept_offered_key(host: Host, user, fingerprint: str | None = None) -> Host:
    """Pin the key the host offered (the UI's "Accept host key"); recorded as an event.

    Pass the fingerprint the operator was shown: if the host has offered another key since,
    nothing is pinned. Accepting resolves an open `host-key-changed` finding.
    """
    host.refresh_from_db()
    if not host.offered_key:
        raise ValueError(f"{host.name} has not offered a host key; run an audit first")
    offered_fp = _fingerprint(host.offered_key_type, host.offered_key)
    if fingerprint is not None and fingerprint != offered_fp:
        raise ValueError(
            f"{host.name} now offers {offered_fp}, not the {fingerprint} you were shown; "
            "check again before accepting"
        )
    previous = host.host_key_type, host.host_key, host.host_key_state
    now = timezone.now()
    with transaction.atomic():
        updated = Host.objects.filter(
            pk=host.pk, offered_key_type=host.offered_key_type, offered_key=host.offered_key
        ).update(
            host_key_type=host.offered_key_type,
            host_key=host.offered_key,
            host_key_state=Host.KeyState.PINNED,
            offered_key_type="",
            offered_key="",
            key_offered_at=None,
        )
        if updated != 1:
            raise ValueError(f"{host.name} offered another key meanwhile; check again")
        Finding.objects.filter(host=host, kind=HOST_KEY_CHANGED, resolved_at__isnull=True).update(
            resolved_at=now
        )
        detail = f"pinned {host.offered_key_type} {offered_fp}"
        if previous[2] == Host.KeyState.CHANGED and previous[1]:
            detail += f", replacing {previous[0]} {_fingerprint(previous[0], previous[1])}"
        record(
            user,
            "host-key.accepted",
            host,
            detail,
            host=host,
            data={"key_type": host.offered_key_type, "fingerprint": offered_fp},
        )
    host.refresh_from_db()
    return host


# --- known_hosts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownHostsEntry:
    line: int
    patterns: tuple[str, ...]  # plain names, "[host]:port", or hashed "|1|salt|hash"
    key_type: str
    key: str

    def matches(self, address: str, port: int) -> bool:
        candidates = {f"[{address}]:{port}"}
        if port == 22:
            candidates.add(address)
        for pattern in self.patterns:
            if pattern.startswith("|1|"):
                if any(_hashed_match(pattern, candidate) for candidate in candidates):
                    return True
            elif pattern.lower() in {c.lower() for c in candidates}:
                return True
        return False


class _EntryIndex:
    """Entries by the names they list, so an import costs one lookup per host (not hosts ×
    entries). Hashed entries each carry their own salt: they cannot be indexed, only tried,
    so they are decoded once and tried only against hosts no plain entry names; an entry
    belongs to the first such host (by name) that it names."""

    def __init__(self, entries: list[KnownHostsEntry]):
        self.plain: dict[str, list[KnownHostsEntry]] = {}
        hashed: dict[int, tuple[KnownHostsEntry, list[tuple[bytes, bytes]]]] = {}
        for entry in entries:
            for pattern in entry.patterns:
                if pattern.startswith("|1|"):
                    decoded = _decode_hashed(pattern)
                    if decoded is not None:
                        hashed.setdefault(entry.line, (entry, []))[1].append(decoded)
                else:
                    self.plain.setdefault(pattern.lower(), []).append(entry)
        self.hashed = list(hashed.values())

    def find_all(self, hosts: list[Host]) -> dict[int, list[KnownHostsEntry]]:
        """{host pk: its entries in file order} for the hosts (in name order) any entry names."""
        found: dict[int, dict[int, KnownHostsEntry]] = {}
        unnamed = []
        for host in hosts:
            plain = {
                entry.line: entry
                for key in _candidates(host)
                for entry in self.plain.get(key.lower(), ())
            }
            if plain:
                found[host.pk] = plain
            else:
                unnamed.append(host)
        if self.hashed and unnamed:
            for pk, entry in self._hashed_owners(unnamed):
                found.setdefault(pk, {})[entry.line] = entry
        return {pk: [entries[line] for line in sorted(entries)] for pk, entries in found.items()}

    def _hashed_owners(self, hosts: list[Host]) -> Iterator[tuple[int, KnownHostsEntry]]:
        """(host pk, entry) for each hashed entry naming one of these hosts (the first by name).

        Each entry's digest is tried against the hosts' names until one matches, starting at
        the name the previous entry matched (a host's next key, else the next host): a file
        written host by host in inventory order (ssh-keyscan over the inventory) then costs
        about one HMAC per entry instead of hosts × entries; in any other order it costs what
        trying every name costs.
        """
        owners: dict[bytes, int] = {}  # a candidate name -> the first host (by name) it names
        for position, host in enumerate(hosts):
            for name in _candidates(host):
                owners.setdefault(name.encode(), position)
        names = list(owners)
        digest_of, count, start = hmac.digest, len(names), 0
        for entry, pairs in self.hashed:
            owner = None
            for salt, digest in pairs:
                for step in range(count):
                    at = (start + step) % count
                    if digest_of(salt, names[at], "sha1") == digest:
                        start = at
                        position = owners[names[at]]
                        owner = position if owner is None else min(owner, position)
                        break
            if owner is not None:
                yield hosts[owner].pk, entry


def _candidates(host: Host) -> list[str]:
    """The names known_hosts may list a host under: its address and name, with the port."""
    found = []
    for name in (host.address, host.name):
        found.append(f"[{name}]:{host.port}")
        if host.port == 22:
            found.append(name)
    return found


def _decode_hashed(pattern: str) -> tuple[bytes, bytes] | None:
    try:
        _, _, salt_b64, digest_b64 = pattern.split("|", 3)
        return base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except (ValueError, binascii.Error):
        return None


@dataclass
class KnownHostsImport:
    pinned: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_known_hosts(text: str) -> tuple[list[KnownHostsEntry], list[str]]:
    """Parse OpenSSH known_hosts text into entries, and notes about the lines skipped."""
    entries, notes = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            marker = fields[0]
            if marker in ("@revoked", "@cert-authority"):
                notes.append(f"line {number}: {marker} entry skipped (not a host's own key)")
            else:
                notes.append(f"line {number}: unknown marker {marker!r}; skipped")
            continue
        if len(fields) < 3:
            notes.append(f"line {number}: expected 'hosts keytype key'; skipped")
            continue
        hosts, key_type, key = fields[0], fields[1], fields[2]
        problem = _key_problem(key_type, key)
        if problem:
            notes.append(f"line {number}: {problem}; skipped")
            continue
        patterns = tuple(p for p in hosts.split(",") if p)
        wildcard = [p for p in patterns if not p.startswith("|1|") and any(c in p for c in "*?!")]
        if wildcard:
            notes.append(
                f"line {number}: patterns {', '.join(wildcard)} are not pinned (one key for "
                "many hosts is not a pin); list hosts explicitly"
            )
            patterns = tuple(p for p in patterns if p not in wildcard)
            if not patterns:
                continue
        entries.append(KnownHostsEntry(number, patterns, key_type, key))
    return entries, notes


def import_known_hosts(text: str, *, user=None, replace: bool = False) -> KnownHostsImport:
    """Pin keys from known_hosts text for every inventory host it names.

    A host already pinned to another key is left alone (a conflict) unless `replace` is set.
    """
    entries, notes = parse_known_hosts(text)
    report = KnownHostsImport(notes=notes)
    hosts = list(
        Host.objects.order_by("name").only(
            "pk", "name", "address", "port", "host_key_type", "host_key", "host_key_state"
        )
    )
    named = _EntryIndex(entries).find_all(hosts)
    to_pin: list[tuple[Host, KnownHostsEntry]] = []
    for host in hosts:
        found = named.get(host.pk)
        if not found:
            continue
        entry = min(found, key=lambda e: _preference(e.key_type))
        same = host.host_key_type == entry.key_type and host.host_key == entry.key
        if host.host_key_state == Host.KeyState.PINNED and same:
            report.unchanged.append(host.name)
            continue
        if host.host_key and not same and not replace:
            report.conflicts.append(
                f"{host.name}: pinned {_fingerprint(host.host_key_type, host.host_key)}, "
                f"known_hosts line {entry.line} has {_fingerprint(entry.key_type, entry.key)}"
                " (use --replace to pin the file's key)"
            )
            continue
        to_pin.append((host, entry))
        report.pinned.append(host.name)
    _pin_many(to_pin, user)
    return report


def _pin_many(pins: list[tuple[Host, KnownHostsEntry]], user) -> None:
    """What `pin_key` does, for many hosts in a few statements (imports of 10,000 hosts)."""
    if not pins:
        return
    now = timezone.now()
    events = []
    for host, entry in pins:
        fp = _fingerprint(entry.key_type, entry.key)
        source = f"known_hosts line {entry.line}"
        events.append(
            build_event(
                user,
                "host-key.pinned",
                host,
                f"pinned {entry.key_type} {fp} from {source}",
                host=host,
                data={"key_type": entry.key_type, "fingerprint": fp, "source": source},
            )
        )
    with transaction.atomic():
        for start in range(0, len(pins), PIN_BATCH):
            batch = pins[start : start + PIN_BATCH]
            _write_pins([(host.pk, entry.key_type, entry.key) for host, entry in batch])
            Finding.objects.filter(
                host_id__in=[host.pk for host, _ in batch],
                kind=HOST_KEY_CHANGED,
                resolved_at__isnull=True,
            ).update(resolved_at=now)
        record_many(events)


PIN_BATCH = 1000


def _write_pins(keys: list[tuple[int, str, str]]) -> None:
    """Pin (host id, key type, key) rows in one UPDATE … FROM (VALUES …).

    Each host has its own key: Django's bulk_update writes that as a CASE per row and field,
    which Django takes most of a 10,000-host import to build. A VALUES list joined on the id
    is one plain statement (PostgreSQL, and SQLite since 3.33; both name its columns
    column1, column2, …).
    """
    quote = connection.ops.quote_name
    table = quote(Host._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(keys))
    sql = (
        f"UPDATE {table} SET {quote('host_key_type')} = v.column2, {quote('host_key')} = "
        f"v.column3, {quote('host_key_state')} = %s, {quote('offered_key_type')} = '', "
        f"{quote('offered_key')} = '', {quote('key_offered_at')} = NULL "
        f"FROM (VALUES {rows}) AS v WHERE {table}.{quote(Host._meta.pk.column)} = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Host.KeyState.PINNED.value, *(v for row in keys for v in row)])


def pin_key(host: Host, key_type: str, key_b64: str, *, user=None, source: str = "") -> None:
    """Pin a key an operator vouched for; resolves an open `host-key-changed` finding."""
    problem = _key_problem(key_type, key_b64)
    if problem:
        raise ValueError(problem)
    now = timezone.now()
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(
            host_key_type=key_type,
            host_key=key_b64,
            host_key_state=Host.KeyState.PINNED,
            offered_key_type="",
            offered_key="",
            key_offered_at=None,
        )
        Finding.objects.filter(host=host, kind=HOST_KEY_CHANGED, resolved_at__isnull=True).update(
            resolved_at=now
        )
        fp = _fingerprint(key_type, key_b64)
        record(
            user,
            "host-key.pinned",
            host,
            f"pinned {key_type} {fp}" + (f" from {source}" if source else ""),
            host=host,
            data={"key_type": key_type, "fingerprint": fp, "source": source},
        )


# --- helpers ----------------------------------------------------------------------------------


def _fingerprint(key_type: str, key_b64: str) -> str:
    try:
        return ssh.fingerprint_sha256(key_type, key_b64)
    except (ValueError, binascii.Error):
        return "(unreadable key)"


def _preference(key_type: str) -> int:
    try:
        return KEY_PREFERENCE.index(key_type)
    except ValueError:
        return len(KEY_PREFERENCE)


def _key_problem(key_type: str, key_b64: str) -> str:
    """Why a (type, base64) pair is not a public key, or "" when it is."""
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        return f"{key_type} key is not valid base64"
    # The blob starts with its own type name as an SSH string: it must agree with the label.
    if len(blob) < 4:
        return f"{key_type} key is too short"
    size = int.from_bytes(blob[:4], "big")
    if blob[4 : 4 + size].decode("ascii", errors="replace") != key_type:
        return f"key blob is not a {key_type} key"
    return ""


def _hashed_match(pattern: str, candidate: str) -> bool:
    # OpenSSH HashKnownHosts: |1|base64(salt)|base64(HMAC-SHA1(salt, hostname)).
    try:
        _, _, salt_b64, digest_b64 = pattern.split("|", 3)
        salt = base64.b64decode(salt_b64)
        digest = base64.b64decode(digest_b64)
    except (ValueError, binascii.Error):
        return False
    mine = hmac.new(salt, candidate.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(mine, digest)
