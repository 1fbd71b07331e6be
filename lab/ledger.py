"""The reboot ledger: every reboot the lab received, as ground truth for rollout tests.

Stored as JSON lines of events (`reboot`, `up`, `emergency`) so a crash never loses one; read
back as one RebootRecord per reboot, with helpers for "was any host rebooted twice" and "how many
hosts of a group were unavailable at once".
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RebootRecord:
    host: str
    groups: tuple[str, ...]
    command: str
    down_at: float  # the reboot command arrived; the host stopped answering
    up_at: float | None  # the host answered again (None: still down or stuck)
    boot_id_before: str
    boot_id_after: str | None
    kernel_before: str
    kernel_after: str | None
    outcome: str  # "up", "down" (not back yet), "emergency" (stuck in emergency mode)

    def down_during(self, t: float) -> bool:
        return self.down_at <= t and (self.up_at is None or t < self.up_at)


class LedgerWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()


class Ledger:
    def __init__(self, records: list[RebootRecord]) -> None:
        self.records = records

    @classmethod
    def read(cls, path: Path) -> Ledger:
        if not Path(path).exists():
            return cls([])
        open_reboots: dict[str, dict[str, Any]] = {}
        done: list[dict[str, Any]] = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: not a ledger event: {exc}") from exc
                host = event["host"]
                if event["event"] == "reboot":
                    if host in open_reboots:
                        done.append(open_reboots.pop(host))
                    open_reboots[host] = {**event, "outcome": "down"}
                elif host in open_reboots:
                    rec = open_reboots[host]
                    rec["boot_id_after"] = event.get("boot_id")
                    rec["kernel_after"] = event.get("kernel")
                    if event["event"] == "up":
                        rec["up_at"] = event["at"]
                        rec["outcome"] = "up"
                        done.append(open_reboots.pop(host))
                    else:
                        rec["outcome"] = "emergency"
        done.extend(open_reboots.values())
        records = [
            RebootRecord(
                host=r["host"],
                groups=tuple(r.get("groups", ())),
                command=r.get("command", ""),
                down_at=r["at"],
                up_at=r.get("up_at"),
                boot_id_before=r["boot_id"],
                boot_id_after=r.get("boot_id_after"),
                kernel_before=r.get("kernel", ""),
                kernel_after=r.get("kernel_after"),
                outcome=r["outcome"],
            )
            for r in done
        ]
        records.sort(key=lambda r: r.down_at)
        return cls(records)

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def for_host(self, host: str) -> list[RebootRecord]:
        return [r for r in self.records if r.host == host]

    def reboots_per_host(self) -> Counter[str]:
        return Counter(r.host for r in self.records)

    def down_at(self, t: float) -> set[str]:
        return {r.host for r in self.records if r.down_during(t)}

    def max_concurrent_down(self, group: str | None = None) -> int:
        """The most hosts (of `group`, or of the whole lab) that were down at one instant."""
        events: list[tuple[float, int]] = []
        for r in self.records:
            if group is not None and group not in r.groups:
                continue
            events.append((r.down_at, 1))
            if r.up_at is not None:
                events.append((r.up_at, -1))
        # An `up` at the same instant as another host's `down` frees its slot first.
        events.sort(key=lambda e: (e[0], e[1]))
        worst = current = 0
        for _t, delta in events:
            current += delta
            worst = max(worst, current)
        return worst

    def max_concurrent_down_by_group(self) -> dict[str, int]:
        groups = sorted({g for r in self.records for g in r.groups})
        return {g: self.max_concurrent_down(g) for g in groups}
