"""The HTTP service a lab host provides, on its own loopback address (`Lab(service_port=…)`).

It answers only while the host is up and the unit that provides its role's service
(`nginx.service` on web hosts, `orders-api.service` on api hosts, … see lab/data/units/roles.tsv)
is running: a reboot closes the port and drops the connections in flight; after the boot it is
back only if the unit starts at boot; `systemctl stop` over SSH closes it too.

Every path answers `200 <host> ok` with the host's boot id, except:
- `/delay/<seconds>` answers after that long (at most 60 s): a request held in flight, so a load
  balancer has a session to drain;
- under the `service-fails` fault, everything answers 500;
- under `slow-start`, the first SLOW_START_ANSWERS answers after each boot take
  SLOW_START_SECONDS each (a service warming its caches).

HTTP/1.1 keep-alive is honoured (HAProxy reuses server connections), HTTP/1.0 closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from lab.hoststate import UP
from lab.units import role_unit_names

if TYPE_CHECKING:
    from lab.server import HostRuntime

SLOW_START_ANSWERS = 3
SLOW_START_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
_HEADER_LIMIT = 16 * 1024
_BODY_LIMIT = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}


def providing_unit(runtime: HostRuntime) -> str | None:
    """The unit whose running makes the host's service answer (None: the role has none)."""
    units = runtime.state.units
    return next((name for name in role_unit_names(runtime.state.role) if name in units), None)


class HostService:
    """The listener follows the host: open while it is up and its unit runs, closed otherwise."""

    def __init__(self, runtime: HostRuntime, port: int) -> None:
        self.runtime = runtime
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.answered = 0  # requests other than /healthz (a load balancer's checks), ever
        self.answered_this_boot = 0
        self._boot_seen = runtime.state.boots
        self._lock = asyncio.Lock()

    def should_listen(self) -> bool:
        st = self.runtime.state
        if st.status != UP:
            return False
        unit = providing_unit(self.runtime)
        return unit is not None and st.units[unit].active == "active"

    async def sync(self) -> None:
        async with self._lock:
            want = self.should_listen()
            if want and self.server is None:
                self.server = await asyncio.start_server(
                    self._client,
                    self.runtime.state.address,
                    self.port,
                    reuse_address=True,
                    limit=_HEADER_LIMIT,
                )
            elif not want and self.server is not None:
                await self.close()

    async def close(self) -> None:
        server, self.server = self.server, None
        self.drop_connections()
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    def drop_connections(self) -> None:
        """Cut every connection, as a host going away does (clients see a reset)."""
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    # --- HTTP ---
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        """Answer one request; True when the connection stays open for another."""
        head = await reader.readuntil(b"\r\n\r\n")  # the stream's limit caps it
        if not self.should_listen():  # gone between accept and answer (a reboot, a stop)
            writer.transport.abort()
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            await self._answer(writer, 400, b"bad request line\n", keep_alive=False)
            return False
        _method, path, version = parts
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length_text = headers.get("content-length", "0") or "0"
        length = int(length_text) if length_text.isdigit() else -1
        if not 0 <= length <= _BODY_LIMIT:
            await self._answer(writer, 400, b"bad Content-Length\n", keep_alive=False)
            return False
        if length:
            await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        status, body = await self._respond(path)
        await self._answer(writer, status, body, keep_alive)
        if path != "/healthz":
            self.answered += 1
        return keep_alive

    async def _respond(self, path: str) -> tuple[int, bytes]:
        st = self.runtime.state
        if st.boots != self._boot_seen:
            self._boot_seen, self.answered_this_boot = st.boots, 0
        self.answered_this_boot += 1
        if "slow-start" in st.faults and self.answered_this_boot <= SLOW_START_ANSWERS:
            await asyncio.sleep(SLOW_START_SECONDS)
        if path.startswith("/delay/"):
            try:
                seconds = min(MAX_DELAY_SECONDS, max(0.0, float(path.split("/")[2])))
            except ValueError:
                return 400, b"/delay/<seconds>\n"
            await asyncio.sleep(seconds)
        if "service-fails" in st.faults:
            return 500, f"{st.name} service failing\n".encode()
        return 200, f"{st.name} ok boot {st.boot_id}\n".encode()

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, keep_alive: bool
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"X-Lab-Host: {self.runtime.name}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
