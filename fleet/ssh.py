"""The SSH boundary: the one module that talks to paramiko.

Everything else hands it a `Target` (address, user, pinned host key, optional bastion) and gets
back a `Session` that runs commands, or a typed `SSHError` whose message an SRE can act on.

Host keys are strict: the server's key must equal the pinned one. With no pinned key nothing
runs (`HostKeyUnknown` carries the offered key so an operator can accept it); a different key
raises `HostKeyChanged`. There is deliberately no trust-on-first-use here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shlex
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko
from django.conf import settings

__all__ = [
    "AuthFailed",
    "Bastion",
    "CommandTimeout",
    "ConnectionLost",
    "HostKeyChanged",
    "HostKeyUnknown",
    "Result",
    "SSHError",
    "Session",
    "Target",
    "Unreachable",
    "connect",
    "fingerprint_sha256",
    "parse_bastion",
    "tcp_port_open",
    "tcp_probe",
]

STDERR_MAX_BYTES = 64 * 1024
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Key exchange: X25519 first. The hybrid post-quantum kex costs client CPU on every connection
# and the probe carries no long-lived secrets; it stays available as a fallback.
_KEX_FIRST = ("curve25519-sha256", "curve25519-sha256@libssh.org")
# AES-GCM first: its integrity check runs inside the cipher (C), where paramiko's default
# aes-ctr + HMAC compares every packet's MAC byte by byte in Python (a third of its CPU on a
# probe's ~15 packets per host). The rest stay available for servers without GCM.
_CIPHERS_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
# paramiko's transport thread reads with a 0.1 s timeout to notice a close, so it wakes ten
# times a second while a command runs. Once connected it may sleep in its read: `close`
# shuts the socket down first, which ends that read at once.
_IDLE_READ_TIMEOUT = 5.0
# The name a pinned key carries ("ssh-rsa") differs from the signature algorithms that use it.
_HOSTKEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


# --- errors -----------------------------------------------------------------------------------


class SSHError(Exception):
    """Something kept us from running a command on a host. `kind` is a stable short code."""

    kind = "ssh-error"


class Unreachable(SSHError):
    """No SSH conversation: DNS, refused/timed-out TCP, no banner, failed handshake."""

    kind = "unreachable"


class HostKeyUnknown(SSHError):
    """The host has no pinned key. Nothing was run; the offered key is attached."""

    kind = "host-key-unknown"

    def __init__(
        self, message: str, *, offered_type: str, offered_key: str, target: Target | None = None
    ):
        super().__init__(message)
        self.target = target  # whose key: the host, or its bastion
        self.offered_type = offered_type
        self.offered_key = offered_key


class HostKeyChanged(SSHError):
    """The host presented a key other than the pinned one. Nothing was run."""

    kind = "host-key-changed"

    def __init__(
        self,
        message: str,
        *,
        expected_type: str,
        expected_key: str,
        offered_type: str,
        offered_key: str,
        target: Target | None = None,
    ):
        super().__init__(message)
        self.target = target  # whose key: the host, or its bastion
        self.expected_type = expected_type
        self.expected_key = expected_key
        self.offered_type = offered_type
        self.offered_key = offered_key


class AuthFailed(SSHError):
    kind = "auth-failed"


class CommandTimeout(SSHError):
    kind = "command-timeout"

    def __init__(self, message: str, *, stdout: bytes = b"", stderr: bytes = b""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


class ConnectionLost(SSHError):
    """The connection dropped before the command reported an exit status (e.g. after a reboot)."""

    kind = "connection-lost"

    def __init__(self, message: str, *, stdout: bytes = b"", stderr: bytes = b""):
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where and how to reach one host. `name` only labels messages."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    host_key_type: str = ""
    host_key: str = ""
    bastion: Target | None = None

    @property
    def label(self) -> str:
        if self.name and self.name != self.address:
            return f"{self.name} ({self.user}@{self.address}:{self.port})"
        return f"{self.user}@{self.address}:{self.port}"


@dataclass
class Result:
    exit_status: int | None  # None: the server closed the channel without reporting one
    stdout: bytes
    stderr: bytes
    truncated: bool = False  # stdout hit the cap; the rest was not read
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


@dataclass
class _Timeouts:
    connect: float
    command: float


@dataclass(frozen=True)
class Bastion:
    user: str | None
    host: str
    port: int


def parse_bastion(spec: str) -> Bastion:
    """Parse "[user@]host[:port]" ("[v6addr]:port" too). Raises ValueError on nonsense."""
    spec = spec.strip()
    if not spec or any(ch.isspace() for ch in spec):
        raise ValueError(f"bastion {spec!r} is not [user@]host[:port]")
    user, _, hostport = spec.rpartition("@")
    port = 22
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bastion {spec!r} is not [user@]host[:port]")
            port = _port(rest[1:], spec)
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
        port = _port(port_text, spec)
    else:
        host = hostport
    if not host:
        raise ValueError(f"bastion {spec!r} has no host")
    return Bastion(user=user or None, host=host, port=port)


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bastion {spec!r} has a bad port {text!r}")
    return int(text)


def fingerprint_sha256(key_type: str, key_b64: str) -> str:
    """The OpenSSH-style fingerprint of a public key blob: "SHA256:<base64, no padding>"."""
    del key_type  # the blob names its own type; kept in the signature for callers' clarity
    blob = base64.b64decode("".join(key_b64.split()), validate=True)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def tcp_port_open(address: str, port: int, timeout: float) -> bool:
    """True when a TCP connect succeeds within `timeout`."""
    sock = tcp_probe(address, port, timeout)
    if sock is None:
        return False
    sock.close()
    return True


def tcp_probe(address: str, port: int, timeout: float) -> socket.socket | None:
    """A TCP connection to the port, or None when it refuses or does not answer within `timeout`.

    Cheap polling of a rebooting host: while it is down this costs it no SSH session, and once
    the port accepts, `Session(target, sock=...)` runs SSH over this very connection, so the
    check and the session are one connection, not two. The caller closes an unused socket.
    """
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError:
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# --- client keys ------------------------------------------------------------------------------

_key_cache: dict[tuple[str, float], paramiko.PKey] = {}
_key_lock = threading.Lock()


def _key_from_file(path: str) -> paramiko.PKey:
    try:
        mtime = Path(path).stat().st_mtime
    except OSError as exc:
        raise AuthFailed(f"SSH_KEY_FILE {path!r} cannot be read: {exc.strerror}") from exc
    with _key_lock:
        key = _key_cache.get((path, mtime))
        if key is None:
            try:
                key = paramiko.PKey.from_path(path)
            except paramiko.PasswordRequiredException as exc:
                raise AuthFailed(
                    f"SSH_KEY_FILE {path!r} is passphrase-protected: load it into ssh-agent "
                    "and set SSH_USE_AGENT=true instead"
                ) from exc
            except (paramiko.SSHException, OSError, ValueError) as exc:
                raise AuthFailed(
                    f"SSH_KEY_FILE {path!r} is not a usable private key: {exc}"
                ) from exc
            _key_cache.clear()
            _key_cache[(path, mtime)] = key
        return key


# --- sessions ---------------------------------------------------------------------------------


class Session:
    """One authenticated SSH connection to a host; runs commands, one channel each.

    Use as a context manager: `with connect(target) as s: s.run("uptime", timeout=10)`.
    Not for sharing between threads. `sock` is a TCP connection to the host already made (see
    `tcp_probe`; not with a bastion): the session owns it and runs SSH over it.
    """

    def __init__(
        self,
        target: Target,
        *,
        connect_timeout: float | None = None,
        command_timeout: float | None = None,
        max_output: int | None = None,
        key_file: str | None = None,
        use_agent: bool | None = None,
        sock: socket.socket | None = None,
    ):
        if sock is not None and target.bastion is not None:
            raise ValueError("a connected socket cannot reach a host behind a bastion")
        self.target = target
        self.timeouts = _Timeouts(
            connect=connect_timeout
            if connect_timeout is not None
            else settings.SSH_CONNECT_TIMEOUT,
            command=command_timeout
            if command_timeout is not None
            else settings.SSH_COMMAND_TIMEOUT,
        )
        self.max_output = max_output if max_output is not None else settings.PROBE_OUTPUT_MAX_BYTES
        self.key_file = key_file if key_file is not None else settings.SSH_KEY_FILE
        self.use_agent = use_agent if use_agent is not None else settings.SSH_USE_AGENT
        self.server_key_type = ""
        self.server_key = ""
        self._transports: list[paramiko.Transport] = []
        self._transport: paramiko.Transport | None = None
        self._agent: paramiko.Agent | None = None
        self._sock = sock

    # context manager
    def __enter__(self) -> Session:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        """Connect (through the bastion, if any), check the host key, authenticate.

        Opening an open session does nothing: `with connect(target) as s` (connect opens,
        the `with` enters) must cost the host one connection, not two.
        """
        if self._transport is not None:
            return
        try:
            sock, self._sock = self._sock, None  # once handed over, the transport closes it
            if self.target.bastion is not None:
                bastion_transport = self._handshake(self.target.bastion, None)
                sock = self._open_tunnel(bastion_transport)
            self._transport = self._handshake(self.target, sock)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:  # given but never opened
            self._sock.close()
            self._sock = None
        # Innermost first: the host's transport rides on the bastion's channel.
        for transport in reversed(self._transports):
            # Closing a dead transport must never raise.
            with contextlib.suppress(Exception):
                if isinstance(transport.sock, socket.socket):
                    transport.sock.shutdown(socket.SHUT_RDWR)  # wakes its reader thread
            with contextlib.suppress(Exception):
                transport.close()
        self._transports.clear()
        self._transport = None
        if self._agent is not None:
            self._agent.close()
            self._agent = None

    @property
    def is_active(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def run(
        self,
        command: str,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        *,
        stdin: bytes | None = None,
        max_output: int | None = None,
    ) -> Result:
        """Run `command`; wait up to `timeout` seconds for it to finish.

        `env` is sent as SSH env requests (sshd honours only names in AcceptEnv) and also set
        by an `export NAME='value';` prefix with the value shell-quoted, so the variable
        reaches the command either way and a hostile value is never interpreted by the shell.
        Raises CommandTimeout, or ConnectionLost when the connection drops before the command
        reports its exit status (expected after a reboot command).
        """
        if self._transport is None:
            raise SSHError(f"{self.target.label}: session is not open")
        timeout = self.timeouts.command if timeout is None else timeout
        cap = self.max_output if max_output is None else max_output
        started = time.monotonic()
        deadline = started + timeout
        try:
            chan = self._transport.open_session(timeout=min(timeout, self.timeouts.connect))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(f"cannot open a channel: {_reason(exc)}") from exc
        try:
            wrapped = command
            if env:
                for name in env:
                    if not _ENV_NAME.match(name):
                        raise ValueError(f"environment variable name {name!r} is not valid")
                for name, value in env.items():
                    chan.set_environment_variable(name, value)
                exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
                wrapped = f"export {exports}; {command}"
            chan.exec_command(wrapped)
            if stdin is not None:
                chan.sendall(stdin)
            chan.shutdown_write()
            stdout, stderr, truncated = self._collect(chan, deadline, cap, command, timeout)
            exit_status: int | None
            if truncated:
                exit_status = chan.exit_status if chan.exit_status_ready() else None
            else:
                remaining = deadline - time.monotonic()
                if not chan.status_event.wait(max(remaining, 0)):
                    raise CommandTimeout(
                        f"{self.target.label}: {_short(command)!r} did not exit within "
                        f"{timeout:g}s",
                        stdout=bytes(stdout),
                        stderr=bytes(stderr),
                    )
                exit_status = chan.exit_status
                if exit_status == -1:
                    if not self._transport.is_active():
                        raise self._lost(
                            f"connection dropped while running {_short(command)!r}",
                            stdout=bytes(stdout),
                            stderr=bytes(stderr),
                        )
                    exit_status = None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # A host going down mid-command (a reboot) makes paramiko raise any of these,
            # from exec_command, sendall or shutdown_write alike.
            if not self._transport.is_active() or isinstance(exc, EOFError):
                raise self._lost(f"connection dropped: {_reason(exc)}") from exc
            raise SSHError(f"{self.target.label}: {_reason(exc)}") from exc
        finally:
            # Closing a channel whose connection is gone fails the same way; what went wrong
            # has already been raised above.
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                chan.close()
        return Result(
            exit_status=exit_status,
            stdout=bytes(stdout),
            stderr=bytes(stderr),
            truncated=truncated,
            duration=time.monotonic() - started,
        )

    # --- internals ---

    def _collect(
        self, chan: paramiko.Channel, deadline: float, cap: int, command: str, timeout: float
    ) -> tuple[bytearray, bytearray, bool]:
        stdout, stderr = bytearray(), bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(
                    f"{self.target.label}: {_short(command)!r} still running after its "
                    f"{timeout:g}s timeout",
                    stdout=bytes(stdout),
                    stderr=bytes(stderr),
                )
            # Wake at least once a second to drain stderr, so a chatty stderr cannot fill the
            # window while we wait on stdout.
            chan.settimeout(min(remaining, 1.0))
            try:
                data = chan.recv(65536)
            except TimeoutError:
                data = None
            if chan.recv_stderr_ready():
                _drain_stderr(chan, stderr)
            if data is None:
                continue
            if not data:
                break
            room = cap - len(stdout)
            if len(data) > room:
                stdout += data[:room]
                return stdout, stderr, True
            stdout += data
        # stdout is at EOF; stderr may still hold the tail.
        chan.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            while chunk := chan.recv_stderr(65536):
                if len(stderr) < STDERR_MAX_BYTES:
                    stderr += chunk[: STDERR_MAX_BYTES - len(stderr)]
        except TimeoutError:
            pass
        return stdout, stderr, False

    def _handshake(self, target: Target, sock) -> paramiko.Transport:
        timeout = self.timeouts.connect
        if sock is None:
            sock = _tcp_connect(target, timeout)
        try:
            transport = paramiko.Transport(sock)
        except (paramiko.SSHException, OSError) as exc:
            sock.close()
            raise Unreachable(f"{target.label}: {_reason(exc)}") from exc
        self._transports.append(transport)
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        _prefer_algorithms(transport, target)
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(
                f"{target.label}: SSH handshake failed ({_reason(exc)}); the port answers but "
                "does not complete an SSH handshake"
            ) from exc
        # start_client returns quietly when its timeout passes mid-handshake.
        if not (transport.is_active() and transport.initial_kex_done):
            raise Unreachable(
                f"{target.label}: SSH handshake did not complete within {timeout:g}s; the port "
                "answers but the server does not finish the handshake"
            )
        self._check_host_key(target, transport.get_remote_server_key())
        self._authenticate(target, transport)
        if isinstance(transport.sock, socket.socket):
            transport.sock.settimeout(_IDLE_READ_TIMEOUT)
        return transport

    def _check_host_key(self, target: Target, key: paramiko.PKey) -> None:
        offered_type, offered = key.get_name(), key.get_base64()
        if target is self.target:
            self.server_key_type, self.server_key = offered_type, offered
        pinned = "".join(target.host_key.split())
        role = "" if target is self.target else f"{self.target.label} via bastion "
        if not pinned:
            raise HostKeyUnknown(
                f"{role}{target.label}: host key not pinned; it offered {offered_type} "
                f"{fingerprint_sha256(offered_type, offered)}. Accept it in the dashboard or "
                "import a known_hosts file; nothing runs on a host with an unpinned key.",
                offered_type=offered_type,
                offered_key=offered,
                target=target,
            )
        if offered_type != target.host_key_type or offered != pinned:
            raise HostKeyChanged(
                f"{role}{target.label}: HOST KEY CHANGED. Pinned {target.host_key_type} "
                f"{fingerprint_sha256(target.host_key_type, pinned)}, offered {offered_type} "
                f"{fingerprint_sha256(offered_type, offered)}. The host may have been reinstalled "
                "or someone may be intercepting the connection; the host is blocked until an "
                "operator checks and accepts the new key.",
                expected_type=target.host_key_type,
                expected_key=pinned,
                offered_type=offered_type,
                offered_key=offered,
                target=target,
            )

    def _authenticate(self, target: Target, transport: paramiko.Transport) -> None:
        keys: list[paramiko.PKey] = []
        if self.key_file:
            keys.append(_key_from_file(self.key_file))
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            try:
                if self._agent is None:
                    self._agent = paramiko.Agent()
                keys.extend(self._agent.get_keys())
            except (paramiko.SSHException, OSError) as exc:
                if not keys:
                    raise AuthFailed(
                        f"{target.label}: cannot use the ssh-agent at SSH_AUTH_SOCK: {_reason(exc)}"
                    ) from exc
        if not keys:
            raise AuthFailed(
                f"{target.label}: no client key: set SSH_KEY_FILE or run an ssh-agent "
                "(SSH_AUTH_SOCK) with SSH_USE_AGENT=true"
            )
        refusals = []
        for key in keys:
            try:
                remaining = transport.auth_publickey(target.user, key)
            except paramiko.AuthenticationException as exc:
                refusals.append(f"{key.get_name()} {key.fingerprint}: {_reason(exc)}")
                continue
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise Unreachable(
                    f"{target.label}: connection lost during authentication ({_reason(exc)})"
                ) from exc
            if remaining:
                raise AuthFailed(
                    f"{target.label}: key accepted but the server also wants "
                    f"{', '.join(remaining)}; only public-key authentication is supported"
                )
            return
        raise AuthFailed(
            f"{target.label}: the server refused every client key for user {target.user!r} "
            f"({'; '.join(refusals)}). Is the public key in ~{target.user}/.ssh/authorized_keys?"
        )

    def _open_tunnel(self, bastion: paramiko.Transport) -> paramiko.Channel:
        try:
            return bastion.open_channel(
                "direct-tcpip",
                (self.target.address, self.target.port),
                ("127.0.0.1", 0),
                timeout=self.timeouts.connect,
            )
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(
                f"{self.target.label}: bastion {self.target.bastion.label} could not connect "
                f"to it ({_reason(exc)})"
            ) from exc

    def _lost(self, message: str, **output) -> ConnectionLost:
        return ConnectionLost(f"{self.target.label}: {message}", **output)


def connect(target: Target, **options) -> Session:
    """Open a session (see `Session` for options). Close it, or use it in a `with` block."""
    session = Session(target, **options)
    session.open()
    return session


# --- helpers ----------------------------------------------------------------------------------


def _tcp_connect(target: Target, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except TimeoutError as exc:
        raise Unreachable(f"{target.label}: TCP connect timed out after {timeout:g}s") from exc
    except ConnectionRefusedError as exc:
        raise Unreachable(
            f"{target.label}: connection refused (sshd not running, or wrong port)"
        ) from exc
    except socket.gaierror as exc:
        raise Unreachable(f"{target.label}: cannot resolve {target.address!r}: {exc}") from exc
    except OSError as exc:
        raise Unreachable(f"{target.label}: cannot connect: {_reason(exc)}") from exc
    # paramiko leaves Nagle on; small request/response packets then wait for delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _prefer_algorithms(transport: paramiko.Transport, target: Target) -> None:
    options = transport.get_security_options()
    kex = list(options.kex)
    options.kex = [k for k in _KEX_FIRST if k in kex] + [k for k in kex if k not in _KEX_FIRST]
    ciphers = list(options.ciphers)
    first = [c for c in _CIPHERS_FIRST if c in ciphers]
    options.ciphers = first + [c for c in ciphers if c not in first]
    if target.host_key_type:
        # Ask for the pinned key's type first, as OpenSSH does with known_hosts, so a host
        # with several key types presents the one we can check.
        wanted = _HOSTKEY_ALGORITHMS.get(target.host_key_type, (target.host_key_type,))
        available = list(options.key_types)
        first = [k for k in wanted if k in available]
        options.key_types = first + [k for k in available if k not in first]


def _drain_stderr(chan: paramiko.Channel, stderr: bytearray) -> None:
    while chan.recv_stderr_ready():
        chunk = chan.recv_stderr(65536)
        if not chunk:
            return
        if len(stderr) < STDERR_MAX_BYTES:
            stderr += chunk[: STDERR_MAX_BYTES - len(stderr)]


def _default(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, EOFError) and not text:
        return "the server closed the connection"
    return text or type(exc).__name__


def _short(command: str, limit: int = 60) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
