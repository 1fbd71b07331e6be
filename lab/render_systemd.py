"""`systemctl` listings laid out as the host's systemd version prints them with --no-legend.

systemd pads every column to its widest cell and separates columns by one space; the last
column is not padded. `list-unit-files` gained the VENDOR PRESET column in v245, and the STATE
column is at least 15 wide (the width of "enabled-runtime"). Timers without a next or last
elapse print "n/a" before v250 and "-" since.
"""

from __future__ import annotations

import time

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
    seconds = int(abs(seconds))
    if seconds >= 86400:
        d, h = divmod(seconds // 3600, 24)
        return f"{d} day{'s' if d != 1 else ''} {h}h" if h else f"{d} day{'s' if d != 1 else ''}"
    if seconds >= 3600:
        h, m = divmod(seconds // 60, 60)
        return f"{h}h {m}min" if m else f"{h}h"
    if seconds >= 60:
        return f"{seconds // 60}min"
    return f"{seconds}s"


def list_timers(state: HostState, distro: Distro, now: float) -> str:
    none = "-" if distro.systemd >= 250 else "n/a"
    keyed = []
    for timer, service, hours in stock_timers(distro):
        period = hours * 3600
        last = state.booted_at + ((now - state.booted_at) // period) * period
        nxt = last + period
        if last <= state.booted_at + 60:
            last_cells = [none, none]
        else:
            last_cells = [_stamp(last), f"{_span(now - last)} ago"]
        keyed.append((nxt, [_stamp(nxt), f"{_span(nxt - now)} left", *last_cells, timer, service]))
    keyed.sort(key=lambda pair: pair[0])
    return table([row for _nxt, row in keyed])
