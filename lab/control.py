"""Talk to a lab serving from a state directory in another process (`lab fault`, `lab status`).

The serving lab listens on a loopback port and writes the port and a token to
`<state-dir>/control.json` (mode 0600): whoever can read the state directory may steer the lab.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from lab.store import LabError, StateDir


def request(state_dir: str | Path, op: str, timeout: float = 10.0, **fields: Any) -> Any:
    store = StateDir(state_dir)
    control = store.read_control()
    if control is None:
        raise LabError(f"no lab is serving from {store.path} (no {store.control_path.name})")
    message = {"op": op, "token": control["token"], **fields}
    try:
        with socket.create_connection(("127.0.0.1", control["port"]), timeout=timeout) as sock:
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise LabError(
            f"the lab serving from {store.path} does not answer on port {control['port']} "
            f"({exc}); is it still running?"
        ) from exc
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise LabError(f"the lab sent an unreadable reply: {data[:200]!r}") from exc
    if not reply.get("ok"):
        raise LabError(reply.get("error", "the lab refused the request"))
    return reply.get("result")
