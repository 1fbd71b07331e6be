"""One simulated host on the event loop: its SSH listener, its sessions and its boots.

The listener follows the host's condition: an asyncssh server while it is up; a socket that
accepts and never speaks while it `hangs`; nothing at all (connections are refused with a
reset) while it is down, stuck in emergency mode, or `refuses-ssh`.

Every lab host is also a jump host (ProxyJump, `direct-tcpip`) to the other hosts of its lab,
reached by address or by name: a bastion resolves private names the controller cannot, so an
inventory can give hosts behind it their bare names as addresses. Forwarding anywhere else
(the machine's other loopback services) is refused: the lab is not an open proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from typing import TYPE_CHECKING

import asyncssh

from lab.hoststate import DOWN, EMERGENCY, UP, HostState
from lab.probe import corrupt
from lab.service import HostService
from lab.shell import SessionClosed, ShellContext, execute, reads_script_from_stdin

if TYPE_CHECKING:
    from lab.simulator import Lab

log = logging.getLogger(__name__)

SETTLE_SECONDS = 5.0  # `systemctl is-system-running` says "starting" this long after a boot


class _SSHServer(asyncssh.SSHServer):
    def __init__(self, host: HostRuntime) -> None:
        self.host = host
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.host.connections.add(conn)
        self.host.accepted += 1
        self.host.accepted_ever += 1
        if "flapping" in self.host.state.faults and self.host.accepted % 2 == 1:
            # Drop the connection before the handshake completes, as a flaky network does.
            asyncio.get_running_loop().call_soon(conn.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.host.connections.discard(self.conn)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int):
        """A direct-tcpip channel (the client uses this host as its bastion)."""
        target = self.host.core.forward_target(dest_host, dest_port)
        if target is None or self.conn is None:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED, f"{dest_host}:{dest_port} is not a host of this lab"
            )
        self.host.forwarded += 1
        return self.conn.forward_connection(*target)


class _Blackhole(asyncio.Protocol):
    """Accepts TCP and never answers: the `hangs` fault."""

    def __init__(self, host: HostRuntime) -> None:
        self.host = host
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.host.hung.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.host.hung.discard(self.transport)


class HostRuntime:
    def __init__(self, core: Lab, state: HostState) -> None:
        self.core = core
        self.state = state
        self.listener: asyncssh.SSHAcceptor | asyncio.Server | None = None
        self.mode = "closed"
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.hung: set[asyncio.BaseTransport] = set()
        self.accepted = 0  # since the last boot (the `flapping` fault counts these)
        self.accepted_ever = 0  # since the lab started: what a whole reboot cost the host
        self.forwarded = 0  # direct-tcpip channels opened through this host (as a bastion)
        self.boot_timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._key: tuple[int, asyncssh.SSHKey] | None = None
        self._tasks: set[asyncio.Task] = set()
        self.service = HostService(self, core.service_port) if core.service_port else None

    def track(self, task: asyncio.Task) -> None:
        """Keep a reference to a background task until it finishes (the loop holds weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def name(self) -> str:
        return self.state.name

    # --- keys ---
    def host_key(self) -> asyncssh.SSHKey:
        gen = self.state.host_key_generation
        if self._key is None or self._key[0] != gen:
            self._key = (gen, self.core.host_key(self.name, gen))
        return self._key[1]

    # --- listener ---
    def desired_mode(self) -> str:
        if self.state.status != UP or "refuses-ssh" in self.state.faults:
            return "closed"
        if "hangs" in self.state.faults:
            return "hang"
        return "ssh"

    async def sync_listener(self, force: bool = False) -> None:
        """Open or close the SSH listener, and the service's, to match the host's condition."""
        await self._sync_ssh(force)
        if self.service is not None:
            await self.service.sync()

    async def _sync_ssh(self, force: bool) -> None:
        async with self._lock:
            want = self.desired_mode()
            if want == self.mode and not force:
                return
            await self._close_listener()
            if want != "hang":
                self._drop_hung()
            if want == "ssh":
                self.listener = await asyncssh.create_server(
                    lambda: _SSHServer(self),
                    self.state.address,
                    self.state.port,
                    server_host_keys=[self.host_key()],
                    authorized_client_keys=self.core.authorized_keys,
                    process_factory=self._session,
                    encoding=None,
                    allow_scp=False,
                    agent_forwarding=False,
                    x11_forwarding=False,
                    login_timeout=30,
                    reuse_address=True,
                )
            elif want == "hang":
                loop = asyncio.get_running_loop()
                self.listener = await loop.create_server(
                    lambda: _Blackhole(self),
                    self.state.address,
                    self.state.port,
                    reuse_address=True,
                )
            self.mode = want

    async def _close_listener(self) -> None:
        listener, self.listener = self.listener, None
        self.mode = "closed"
        if listener is not None:
            listener.close()
            with contextlib.suppress(Exception):
                await listener.wait_closed()

    def _drop_hung(self) -> None:
        for transport in list(self.hung):
            transport.abort()
        self.hung.clear()

    def drop_connections(self) -> None:
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        self._drop_hung()

    async def shutdown(self) -> None:
        if self.boot_timer is not None:
            self.boot_timer.cancel()
            self.boot_timer = None
        self.drop_connections()
        await self._close_listener()
        if self.service is not None:
            await self.service.close()

    # --- sessions ---
    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command
        if command is None or reads_script_from_stdin(command):
            data = await process.stdin.read()
            text = data.decode("utf-8", errors="replace")
        else:
            text = command
        env = {str(k): str(v) for k, v in process.env.items()}
        rng = random.Random(f"{self.core.seed}/{self.name}/garbage/{self.accepted}")
        ctx = ShellContext(
            state=self.state,
            env=env,
            write=process.stdout.write,
            write_err=process.stderr.write,
            now=self.core.now,
            request_reboot=lambda cmd: self.core.on_reboot(self, cmd),
            probe_filter=(lambda out: corrupt(out, rng))
            if "garbage" in self.state.faults
            else None,
            health_ok=lambda: "unhealthy" not in self.state.faults,
        )
        try:
            status = await execute(ctx, text)
        except SessionClosed:
            return  # the reboot already cut the connection, as a real host's does
        except Exception:  # one broken command must never take the lab down
            log.exception("lab host %s failed on command %r", self.name, text[:200])
            process.stderr.write(b"lab: internal error\n")
            status = 70
        self.core.save_host(self)
        if self.service is not None:  # `systemctl stop nginx` closes the service's port
            await self.service.sync()
        process.exit(status)

    # --- boots ---
    def schedule_boot(self, at: float) -> None:
        if self.boot_timer is not None:
            self.boot_timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, at - self.core.now())
        self.boot_timer = loop.call_later(delay, lambda: self.track(loop.create_task(self.boot())))

    async def boot(self) -> None:
        """Finish a boot: the next boot's truth becomes the running truth."""
        self.boot_timer = None
        st = self.state
        if st.status != DOWN:
            return
        now = self.core.now()
        st.boots += 1
        rng = random.Random(f"{self.core.seed}/{st.index}/boot/{st.boots}")
        st.boot_id = _uuid4(rng)
        st.booted_at = now
        st.booted_kernel = _kernel_to_boot(st)
        st.boot_units()
        if "degraded" in st.faults:
            candidates = sorted(
                u.name
                for u in st.units.values()
                if u.active == "active"
                and u.kind == "run"
                and u.file_state == "enabled"
                and u.name not in ("ssh.service", "sshd.service")
            )
            if candidates:
                victim = st.units[rng.choice(candidates)]
                victim.active, victim.sub = "failed", "failed"
        st.livepatch.patches = []
        st.livepatch.patch_version = ""
        st.reboot_required_pkgs = []
        st.needrestart_services = []
        st.sysctl_runtime = {}
        st.extra_mounts = []
        stuck = False
        for entry in st.fstab:
            if entry.broken:
                entry.mounted = False
                stuck = stuck or entry.required_at_boot
            else:
                entry.mounted = entry.fstype != "swap"
        if "host-key-changes" in st.faults:
            st.host_key_generation += 1
        st.settle_until = now + SETTLE_SECONDS * self.core.time_scale
        st.status = EMERGENCY if stuck else UP
        st.up_at = None if stuck else now
        self.accepted = 0
        self.core.on_event(
            "emergency" if stuck else "up",
            self,
            at=now,
            boot_id=st.boot_id,
            kernel=st.booted_kernel,
        )
        self.core.save_host(self)
        await self.sync_listener()

    def clear_boot_blockers(self) -> bool:
        """Clear faults' lasting effects; True when a down or stuck host should boot now."""
        st = self.state
        if st.status == EMERGENCY:
            # The operator fixed fstab from the console and the boot went on.
            st.fstab = [e for e in st.fstab if not e.broken]
            st.status = DOWN
            return True
        return st.status == DOWN and st.up_at is None


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _kernel_to_boot(st: HostState) -> str:
    if "boots-old-kernel" in st.faults and st.default_kernel in st.installed_kernels:
        i = st.installed_kernels.index(st.default_kernel)
        if i > 0:
            return st.installed_kernels[i - 1]
    if st.default_kernel in st.installed_kernels:
        return st.default_kernel
    return st.installed_kernels[-1]
