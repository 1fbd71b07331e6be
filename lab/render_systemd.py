"""`systemctl` listings laid out as the host's systemd version prints them with --no-legend.

systemd pads every column to its widest cell and separates columns by one space; the last
column is not padded. `list-unit-files` gained the VENDOR PRESET column in v245, and the STATE
column is at least 15 wide (the width of "enabled-runtime"). Timers without a next or last
elapse print "n/a" before v250 and "-" since; v254 right-aligns the LEFT and PASSED columns and
drops the " left" suffix.
"""

from __future__ import annotations

import time
import zlib

from lab.distros import Distro
from lab.hoststate import HostState
from lab.units import stock_sockets, stock_timers


def table(rows: list[list[str]], min_widths: dict[int, int] | None = None) -> str:
    if not rows:
        return ""
    min_widths = min_widths or {}
    ncols = len(rows[0])
    widths = [max([len(r[i]) for r in rows] + [min_widths.get(i, 0)]) for i in range(ncols)]
    lines = []
    for r in rows:
        cells = [r[i].ljust(widths[i]) for i in range(ncols - 1)] + [r[-1]]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _sort_key(name: str) -> str:
    return name  # systemd sorts unit names with strcmp-like ordering


def list_unit_files(state: HostState, distro: Distro) -> str:
    rows = []
    for unit in sorted(state.units.values(), key=lambda u: _sort_key(u.name)):
        if unit.kind in ("gone", "inst"):
            continue
        if distro.systemd >= 245:
            rows.append([unit.name, unit.file_state, unit.preset or "-"])
        else:
            rows.append([unit.name, unit.file_state])
    return table(rows, {1: 15})


def list_units(state: HostState, failed_only: bool = False) -> str:
    rows = []
    for unit in sorted(state.units.values(), key=lambda u: _sort_key(u.name)):
        if not unit.loaded:
            continue
        if failed_only and unit.active != "failed":
            continue
        load = "not-found" if unit.kind == "gone" else "loaded"
        rows.append([unit.name, load, unit.active, unit.sub, unit.description])
    return table(rows)


def list_sockets(state: HostState, distro: Distro) -> str:
    rows = [[listen, sock, svc] for listen, sock, svc in stock_sockets(distro)]
    rows.sort(key=lambda r: r[0])
    return table(rows)


def _stamp(t: float) -> str:
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _span(seconds: float) -> str:
    """systemd's relative time: two units while short, one once large (6h, 2 days)."""
    s = int(abs(seconds))
    day, hour, minute = 86400, 3600, 60
    if s >= 2 * day:
        return f"{s // day} days"
    if s >= 25 * hour:
        return f"1 day {(s - day) // hour}h"
    if s >= 6 * hour:
        return f"{s // hour}h"
    if s >= hour:
        return f"{s // hour}h {s % hour // minute}min"
    if s >= 5 * minute:
        return f"{s // minute}min"
    if s >= minute:
        return f"{s // minute}min {s % minute}s"
    return f"{s}s"


def list_timers(state: HostState, distro: Distro, now: float) -> str:
    # Since v254 the table right-aligns LEFT and PASSED and drops the " left" suffix.
    modern = distro.systemd >= 254
    none = "-" if distro.systemd >= 250 else "n/a"
    keyed = []
    for timer, service, hours in stock_timers(distro):
        period = hours * 3600
        # Timers carry a randomized delay: spread their elapses over the period.
        start = state.booted_at + zlib.crc32(f"{state.name}/{timer}".encode()) % int(period)
        last = start + ((now - start) // period) * period
        nxt = last + period
        left = _span(nxt - now) if modern else f"{_span(nxt - now)} left"
        if last <= state.booted_at:
            last_cells = [none, none]
        else:
            last_cells = [_stamp(last), f"{_span(now - last)} ago"]
        keyed.append((nxt, [_stamp(nxt), left, *last_cells, timer, service]))
    keyed.sort(key=lambda pair: pair[0])
    rows = [row for _nxt, row in keyed]
    if not modern:
        return table(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for r in rows:
        cells = [
            r[0].ljust(widths[0]),
            r[1].rjust(widths[1]),
            r[2].ljust(widths[2]),
            r[3].rjust(widths[3]),
            r[4].ljust(widths[4]),
            r[5],
        ]
        lines.append(" ".join(cells))
    return "\n".join(lines) + "\n"
