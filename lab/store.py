"""The lab's state directory: its settings, each host's state, keys, the ledger and the lock.

<state-dir>/
  lab.json              seed, address plan, key salt (fixed when the lab is first created)
  hosts/<name>.json     one HostState per host, rewritten atomically on every change
  client_ed25519(.pub)  the key pair the dashboard logs in with
  ledger.jsonl          every reboot the lab received (append-only)
  control.json          port and token of the running lab's control socket
  lab.lock              held while a lab serves from this directory
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.hoststate import HostState

FORMAT_VERSION = 1


class LabError(Exception):
    """A lab request that cannot be honoured; the message says why."""


@dataclass
class LabSettings:
    seed: int
    base_address: str
    port: int
    created_at: float
    key_salt: str
    format_version: int = FORMAT_VERSION


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class StateDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.hosts_dir = self.path / "hosts"
        self.settings_path = self.path / "lab.json"
        self.ledger_path = self.path / "ledger.jsonl"
        self.control_path = self.path / "control.json"
        self.client_key_path = self.path / "client_ed25519"
        self._lock_fh: Any = None
        self._saved: dict[str, str] = {}  # host name: the text this instance last wrote

    # --- settings ---
    def load_settings(self) -> LabSettings | None:
        if not self.settings_path.exists():
            return None
        try:
            data = json.loads(self.settings_path.read_text())
            settings = LabSettings(**data)
        except (ValueError, TypeError) as exc:
            raise LabError(f"{self.settings_path} is not a lab settings file: {exc}") from exc
        if settings.format_version != FORMAT_VERSION:
            raise LabError(
                f"{self.settings_path} has format {settings.format_version}; "
                f"this lab reads format {FORMAT_VERSION}"
            )
        return settings

    def save_settings(self, settings: LabSettings) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.settings_path, json.dumps(asdict(settings), indent=2) + "\n", 0o600)

    @staticmethod
    def new_settings(seed: int, base_address: str, port: int, now: float) -> LabSettings:
        return LabSettings(seed, base_address, port, now, secrets.token_hex(16))

    # --- hosts ---
    def host_path(self, name: str) -> Path:
        return self.hosts_dir / f"{name}.json"

    def load_hosts(self) -> list[HostState]:
        if not self.hosts_dir.exists():
            return []
        states = []
        for path in sorted(self.hosts_dir.glob("*.json")):
            try:
                states.append(HostState.from_dict(json.loads(path.read_text())))
            except (ValueError, TypeError, KeyError) as exc:
                raise LabError(f"{path} is not a host state file: {exc}") from exc
        states.sort(key=lambda s: s.index)
        return states

    def save_host(self, state: HostState) -> None:
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        text = state.to_json()
        if self._saved.get(state.name) == text:
            return  # most sessions (an audit's probe) change nothing
        write_atomic(self.host_path(state.name), text)
        self._saved[state.name] = text

    # --- keys ---
    def ensure_client_key(self) -> asyncssh.SSHKey:
        """The lab's client key pair (OpenSSH format, readable by paramiko), made once."""
        self.path.mkdir(parents=True, exist_ok=True)
        pub_path = self.client_key_path.with_name(self.client_key_path.name + ".pub")
        if self.client_key_path.exists():
            key = asyncssh.read_private_key(str(self.client_key_path))
        else:
            key = asyncssh.generate_private_key("ssh-ed25519", comment="rebootable-lab")
            write_atomic(self.client_key_path, key.export_private_key().decode(), 0o600)
        if not pub_path.exists():
            write_atomic(pub_path, key.export_public_key().decode())
        return key

    @staticmethod
    def host_key(settings: LabSettings, name: str, generation: int) -> asyncssh.SSHKey:
        """A host's Ed25519 key, derived from the lab's secret salt: persistent with no key files,
        and a new key whenever the host's key generation moves on (the host-key-changes fault)."""
        material = f"{settings.key_salt}/{name}/{generation}".encode()
        raw = hashlib.sha256(material).digest()
        private = Ed25519PrivateKey.from_private_bytes(raw)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        return asyncssh.import_private_key(pem)

    # --- control socket address ---
    def write_control(self, port: int, token: str) -> None:
        doc = {"pid": os.getpid(), "port": port, "token": token}
        write_atomic(self.control_path, json.dumps(doc) + "\n", 0o600)

    def read_control(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.control_path.read_text())
        except (OSError, ValueError):
            return None

    def remove_control(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()

    # --- single server per directory ---
    def lock(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / "lab.lock", "w")  # noqa: SIM115 (held open while serving)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise LabError(f"another lab is already serving from {self.path}") from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None
