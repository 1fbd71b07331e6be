"""The lab: N simulated hosts served over real SSH from one asyncio loop in a background thread.

    with Lab("var/lab", hosts=20, seed=7, time_scale=0.02) as lab:
        info = lab.hosts["web-a-01"]            # address, port, pinned host key, groups
        lab.set_fault("web-a-01", "slow-boot")
        ...
        assert lab.ledger().max_concurrent_down("web-a") <= 1

Every public method is safe to call from any thread but the lab's own.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from lab.faults import FAULTS
from lab.generate import GroupSpec, generate_host, group_specs, host_names
from lab.hoststate import DOWN, EMERGENCY, UP, HostState
from lab.ledger import Ledger, LedgerWriter
from lab.server import HostRuntime
from lab.store import LabError, LabSettings, StateDir

T = TypeVar("T")
SSH_USER = "rebootable"
SHUTDOWN_SECONDS = 1.0  # a reboot's own shutdown before the boot time starts (scaled)


@dataclass(frozen=True)
class HostInfo:
    """What an inventory needs to reach a lab host and pin its key."""

    name: str
    address: str
    port: int
    ssh_user: str
    host_key_type: str
    host_key: str  # base64 of the public key blob, as in known_hosts
    groups: tuple[str, ...]
    labels: tuple[str, ...]
    distro: str
    role: str
    zone: str

    @property
    def known_hosts_line(self) -> str:
        target = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{target} {self.host_key_type} {self.host_key}"


def host_info(st: HostState, key: asyncssh.SSHKey) -> HostInfo:
    key_type, blob = key.export_public_key("openssh").decode().split()[:2]
    return HostInfo(
        name=st.name,
        address=st.address,
        port=st.port,
        ssh_user=SSH_USER,
        host_key_type=key_type,
        host_key=blob,
        groups=tuple(st.groups),
        labels=(f"distro={st.distro}", f"zone={st.zone}", f"role={st.role}"),
        distro=st.distro,
        role=st.role,
        zone=st.zone,
    )


def offline_hosts(state_dir: str | Path) -> list[tuple[HostInfo, HostState]]:
    """Hosts of a lab from its state files, whether or not it is running."""
    store = StateDir(state_dir)
    settings = store.load_settings()
    if settings is None:
        raise LabError(f"no lab in {store.path}")
    return [
        (host_info(st, StateDir.host_key(settings, st.name, st.host_key_generation)), st)
        for st in store.load_hosts()
    ]


class Lab:
    def __init__(
        self,
        state_dir: str | Path,
        hosts: int = 10,
        seed: int = 1,
        time_scale: float = 1.0,
        base_address: str = "127.10.0.0",
        port: int = 2222,
        distros: Sequence[str] | None = None,
        drift: Mapping[int, Sequence[str]] | None = None,
        stock: bool = False,
        service_port: int | None = None,
    ) -> None:
        """`distros[i]` and `drift[i]` fix host i's distribution and drift (when the lab first
        creates it); `stock=True` gives every other new host no drift at all; `service_port`
        makes every host serve its HTTP service on that port of its address (lab.service)."""
        if hosts < 0:
            raise LabError("hosts must be zero or more")
        if time_scale <= 0:
            raise LabError("time_scale must be greater than zero")
        self.store = StateDir(state_dir)
        self.requested_hosts = hosts
        self.requested_seed = seed
        self.time_scale = float(time_scale)
        self.base_address = base_address
        self.port = port
        self.distro_overrides = list(distros or [])
        self.drift_overrides = {int(k): list(v) for k, v in (drift or {}).items()}
        self.stock = stock
        self.service_port = service_port
        self.settings: LabSettings | None = None
        self.runtimes: dict[str, HostRuntime] = {}
        self.authorized_keys: asyncssh.SSHAuthorizedKeys | None = None
        self.ledger_writer = LedgerWriter(self.store.ledger_path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._control: asyncio.Server | None = None
        self._control_token = secrets.token_hex(16)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Lab:
        if self._thread is not None:
            raise LabError("the lab is already running")
        self.store.lock()
        try:
            self._prepare()
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(target=loop.run_forever, name="lab-loop", daemon=True)
            self._thread.start()
            try:
                self._run(self._start_async(), timeout=120)
            except BaseException:
                self.stop()
                raise
        except BaseException:
            self.store.unlock()
            raise
        return self

    def stop(self) -> None:
        """Close every listener and connection, keep the state (hosts mid-reboot included)."""
        if self._loop is None:
            return
        try:
            self._run(self._stop_async(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop.close()
            self._loop = None
            self._thread = None
            self.store.remove_control()
            self.store.unlock()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (the `lab serve` command)."""
        # Sleep, not Thread.join: an interrupt inside join() can leave the thread looking dead.
        try:
            while self._thread is not None and self._thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    def _prepare(self) -> None:
        settings = self.store.load_settings()
        now = time.time()
        if settings is None:
            settings = StateDir.new_settings(self.requested_seed, self.base_address, self.port, now)
            self.store.save_settings(settings)
        else:
            mismatches = [
                f"{label} {have!r} (asked for {want!r})"
                for label, have, want in (
                    ("seed", settings.seed, self.requested_seed),
                    ("base address", settings.base_address, self.base_address),
                    ("port", settings.port, self.port),
                )
                if have != want
            ]
            if mismatches:
                raise LabError(
                    f"{self.store.path} holds a lab created with "
                    + ", ".join(mismatches)
                    + "; use another --state-dir or the same settings"
                )
        self.settings = settings
        states = self.store.load_hosts()
        names = host_names(max(self.requested_hosts, len(states)))
        for index in range(len(states), self.requested_hosts):
            distro = self.distro_overrides[index] if index < len(self.distro_overrides) else None
            drift = self.drift_overrides.get(index)
            if drift is None and self.stock:
                drift = []
            state = generate_host(
                settings.seed,
                index,
                names[index],
                settings.base_address,
                settings.port,
                settings.created_at,
                distro_key=distro,
                drift=drift,
            )
            self.store.save_host(state)
            states.append(state)
        client_key = self.store.ensure_client_key()
        self.authorized_keys = asyncssh.import_authorized_keys(
            client_key.export_public_key().decode()
        )
        self.runtimes = {}
        for state in states:
            self.runtimes[state.name] = HostRuntime(self, state)

    async def _start_async(self) -> None:
        now = self.now()
        for runtime in self.runtimes.values():
            st = runtime.state
            if st.status == DOWN and st.up_at is not None:
                runtime.schedule_boot(max(now, st.up_at))
        for runtime in self.runtimes.values():
            try:
                await runtime.sync_listener()
            except OSError as exc:
                raise LabError(
                    f"cannot listen on {runtime.state.address}:{runtime.state.port} "
                    f"for {runtime.name}: {exc}"
                ) from exc
        self._control = await asyncio.start_server(self._control_client, "127.0.0.1", 0)
        port = self._control.sockets[0].getsockname()[1]
        self.store.write_control(port, self._control_token)

    async def _stop_async(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        for runtime in self.runtimes.values():
            await runtime.shutdown()
            self.store.save_host(runtime.state)

    # ------------------------------------------------------------------ loop plumbing
    def _run(self, coro: Any, timeout: float = 30) -> Any:
        if self._loop is None:
            coro.close()
            raise LabError("the lab is not running; call start() first")
        if threading.current_thread() is self._thread:
            coro.close()
            raise LabError("lab methods cannot be called from the lab's own thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        async def wrapper() -> T:
            return fn()

        return self._run(wrapper(), timeout)

    # ------------------------------------------------------------------ hooks for HostRuntime
    @property
    def seed(self) -> int:
        assert self.settings is not None
        return self.settings.seed

    def now(self) -> float:
        return time.time()

    def host_key(self, name: str, generation: int) -> asyncssh.SSHKey:
        assert self.settings is not None
        return StateDir.host_key(self.settings, name, generation)

    def save_host(self, runtime: HostRuntime) -> None:
        self.store.save_host(runtime.state)

    def on_event(self, event: str, runtime: HostRuntime, **fields: Any) -> None:
        self.ledger_writer.append({"event": event, "host": runtime.name, **fields})

    def on_reboot(self, runtime: HostRuntime, command: str) -> None:
        """A reboot command arrived: record it, go down, schedule the boot."""
        st = runtime.state
        now = self.now()
        self.on_event(
            "reboot",
            runtime,
            at=now,
            boot_id=st.boot_id,
            kernel=st.booted_kernel,
            groups=st.groups,
            command=command,
        )
        st.status = DOWN
        st.down_at = now
        factor = 6.0 if "slow-boot" in st.faults else 1.0
        delay = (SHUTDOWN_SECONDS + st.boot_seconds * factor) * self.time_scale
        st.up_at = None if "never-returns" in st.faults else now + delay
        self.store.save_host(st)
        runtime.drop_connections()
        if runtime.service is not None:
            runtime.service.drop_connections()
        runtime.track(asyncio.get_running_loop().create_task(runtime.sync_listener()))
        if st.up_at is not None:
            runtime.schedule_boot(st.up_at)

    # ------------------------------------------------------------------ control socket
    async def _control_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            request = json.loads(line)
            if request.get("token") != self._control_token:
                reply: dict[str, Any] = {"ok": False, "error": "bad control token"}
            else:
                reply = {"ok": True, "result": await self._control_op(request)}
        except LabError as exc:
            reply = {"ok": False, "error": str(exc)}
        except (TimeoutError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reply = {"ok": False, "error": f"bad control request: {exc!r}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    async def _control_op(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        if op == "fault":
            self._set_fault(request["host"], request["kind"])
            await self._runtime(request["host"]).sync_listener()
            return self._faults_of(request["host"])
        if op == "clear":
            await self._clear_fault(request["host"], request.get("kind"))
            return self._faults_of(request["host"])
        if op == "reboot":
            self.on_reboot(self._runtime(request["host"]), "lab reboot")
            return None
        if op == "status":
            return self._status()
        raise LabError(f"unknown control op {op!r}")

    # ------------------------------------------------------------------ loop-side operations
    def _runtime(self, name: str) -> HostRuntime:
        try:
            return self.runtimes[name]
        except KeyError:
            raise LabError(f"no host named {name!r} in this lab") from None

    def forward_target(self, dest_host: str, dest_port: int) -> tuple[str, int] | None:
        """Where a bastion forwards `dest_host:dest_port`: a lab host by name or address."""
        for runtime in self.runtimes.values():
            st = runtime.state
            if dest_host in (st.name, st.address) and dest_port == st.port:
                return st.address, st.port
        return None

    def _faults_of(self, name: str) -> list[str]:
        return list(self._runtime(name).state.faults)

    def _set_fault(self, name: str, kind: str) -> None:
        runtime = self._runtime(name)
        if kind not in FAULTS:
            raise LabError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        if kind not in runtime.state.faults:
            runtime.state.faults.append(kind)
        if kind == "flapping":
            runtime.accepted = 0
        self.store.save_host(runtime.state)

    async def _clear_fault(self, name: str, kind: str | None) -> None:
        runtime = self._runtime(name)
        st = runtime.state
        if kind is not None and kind not in FAULTS:
            raise LabError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        st.faults = [] if kind is None else [f for f in st.faults if f != kind]
        if (kind is None or kind == "never-returns") and runtime.clear_boot_blockers():
            st.up_at = self.now() + st.boot_seconds * self.time_scale
            runtime.schedule_boot(st.up_at)
        self.store.save_host(st)
        await runtime.sync_listener()

    def _status(self) -> dict[str, Any]:
        counts: dict[str, int] = {UP: 0, DOWN: 0, EMERGENCY: 0}
        faults = {}
        for runtime in self.runtimes.values():
            counts[runtime.state.status] = counts.get(runtime.state.status, 0) + 1
            if runtime.state.faults:
                faults[runtime.name] = list(runtime.state.faults)
        down = sorted(n for n, r in self.runtimes.items() if r.state.status != UP)
        return {"hosts": len(self.runtimes), "status": counts, "faults": faults, "not_up": down}

    # ------------------------------------------------------------------ public API
    @property
    def hosts(self) -> dict[str, HostInfo]:
        """name → HostInfo for every host, with the host key it presents now."""
        return {name: self._info(runtime) for name, runtime in self.runtimes.items()}

    def host(self, name: str) -> HostInfo:
        return self._info(self._runtime(name))

    def _info(self, runtime: HostRuntime) -> HostInfo:
        return host_info(runtime.state, runtime.host_key())

    @property
    def groups(self) -> list[GroupSpec]:
        return group_specs({g for r in self.runtimes.values() for g in r.state.groups})

    @property
    def client_key_path(self) -> Path:
        return self.store.client_key_path

    def known_hosts(self) -> str:
        return "".join(info.known_hosts_line + "\n" for info in self.hosts.values())

    def set_fault(self, name: str, kind: str) -> None:
        """Give `name` a fault (see lab.faults); connection faults act at once."""

        async def apply() -> None:
            self._set_fault(name, kind)
            await self._runtime(name).sync_listener()

        self._run(apply())

    def clear_fault(self, name: str, kind: str | None = None) -> None:
        """Remove one fault or all; a host held down by never-returns or stuck in emergency
        mode (broken fstab entry removed, as an operator would) then finishes booting."""
        self._run(self._clear_fault(name, kind))

    def faults(self, name: str) -> list[str]:
        return self._call(lambda: self._faults_of(name))

    def accepted_connections(self, name: str, *, since_boot: bool = True) -> int:
        """SSH connections the host accepted since it last booted (what a client cost it), or
        since the lab started (`since_boot=False`: a reboot's connections on both boots)."""

        def count() -> int:
            runtime = self._runtime(name)
            return runtime.accepted if since_boot else runtime.accepted_ever

        return self._call(count)

    def loop_cpu_seconds(self) -> float:
        """CPU time of the lab's loop thread (every simulated sshd), so a client running in the
        same process can tell its own CPU from the lab's."""
        if self._thread is None or self._thread.ident is None:
            raise LabError("the lab is not running; call start() first")
        return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))

    def service_address(self, name: str) -> tuple[str, int]:
        """(address, port) of the host's HTTP service (the lab must have a service port)."""
        if self.service_port is None:
            raise LabError("this lab serves no HTTP service; start it with service_port=…")
        return self._runtime(name).state.address, self.service_port

    def service_answers(self, name: str) -> int:
        """Requests the host's service answered since the lab started, other than `/healthz`
        (a load balancer's health checks)."""

        def count() -> int:
            service = self._runtime(name).service
            return service.answered if service is not None else 0

        return self._call(count)

    def service_connections(self, name: str) -> int:
        """Connections open to the host's HTTP service now (requests in flight, keep-alives)."""

        def count() -> int:
            service = self._runtime(name).service
            return len(service.writers) if service is not None else 0

        return self._call(count)

    def reboot(self, name: str) -> None:
        """Reboot a host as if the reboot command had been sent to it."""
        self._call(lambda: self.on_reboot(self._runtime(name), "lab reboot"))

    def rotate_host_key(self, name: str) -> None:
        """Give the host a new key now (a reinstall); the listener restarts with it."""

        async def rotate() -> None:
            runtime = self._runtime(name)
            runtime.state.host_key_generation += 1
            self.store.save_host(runtime.state)
            runtime.drop_connections()
            await runtime.sync_listener(force=runtime.mode == "ssh")

        self._run(rotate())

    def state(self, name: str) -> HostState:
        """A copy of the host's simulated truth."""
        return self._call(lambda: copy.deepcopy(self._runtime(name).state))

    def update_state(self, name: str, change: Callable[[HostState], None]) -> None:
        """Change a host's truth in place (arrange drift in a test), then persist it."""

        def apply() -> None:
            runtime = self._runtime(name)
            change(runtime.state)
            self.store.save_host(runtime.state)

        self._call(apply)

    def status(self) -> dict[str, Any]:
        return self._call(self._status)

    def ledger(self) -> Ledger:
        return Ledger.read(self.store.ledger_path)

    def wait_for(self, name: str, status: str = UP, timeout: float = 10.0) -> HostState:
        """Poll until the host reaches `status` (up, down, emergency) and its port agrees
        (listening when up, closed otherwise); raise LabError on timeout."""

        def probe() -> tuple[HostState, bool]:
            runtime = self._runtime(name)
            settled = runtime.mode == runtime.desired_mode()
            return copy.deepcopy(runtime.state), settled

        deadline = time.monotonic() + timeout
        while True:
            st, settled = self._call(probe)
            if st.status == status and settled:
                return st
            if time.monotonic() > deadline:
                raise LabError(f"{name} is {st.status}, not {status}, after {timeout}s")
            time.sleep(0.02)
