"""A maximal hostile probe output: every section filled to its size cap with content chosen to
make parsers work hard (one very long line, runs of quotes, backslashes and blanks, tens of
thousands of short rows, YAML aliases, sysctl globs, regex-unfriendly repetitions).

Used by tests/parsers/test_parse_cost.py and benchmarks/parse_hostile.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fleet.facts import DEFAULT_SECTION_CAP, SECTION_CAPS
from fleet.probe_script import SECTIONS

NORMAL_PROBE = Path(__file__).resolve().parent.parent / "samples" / "probe" / "debian12-stock.txt"


def _rows(make: Callable[[int], str], size: int) -> str:
    """Rows `make(0)`, `make(1)`, … up to about `size` characters."""
    out, total, i = [], 0, 0
    while total < size:
        row = make(i) + "\n"
        out.append(row)
        total += len(row)
        i += 1
    return "".join(out)


def _filler(size: int) -> str:
    """Pathological text for any parser: long lines, quotes, escapes, blanks, many lines."""
    quarter = max(size // 4, 1)
    return (
        ('K="a \\" b \' c \\\\ d ' * (quarter // 20 + 1))[:quarter]
        + "\n"
        + ("x" + " \t" * (quarter // 2) + "y 1 2 3 4% /")[:quarter]
        + "\n"
        + ("/kernel-(1gnulinux-1[{*" * (quarter // 22 + 1))[:quarter]
        + "\n"
        + ("\"\n'\n\\\n=\n \n" * (quarter // 10 + 1))[:quarter]
    )


def _yaml_bomb(size: int) -> str:
    """Canonical Livepatch status as YAML whose every value is an alias to 10^8 strings."""
    levels = [f"l0: &l0 [{', '.join(['lol'] * 10)}]"]
    for n in range(1, 9):
        levels.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]")
    head = "\n".join(levels) + (
        "\nstatus:\n- kernel: *l8\n  running: true\n  supported: *l8\n"
        "  livepatch:\n    state: *l8\n    version: *l8\n    fixes:\n"
    )
    return head + _rows(lambda i: f"    - {{Name: *l8, Patched: *l8}}\n    - CVE-{i}", size)


# Plausible rows per section, so each parser does its real per-row work before the filler.
ROWS: dict[str, Callable[[int], str]] = {
    "now": lambda i: "1707060000",
    "os-release": lambda i: f'K{i}="a \\"quoted\\" \'value\' \\$HOME"',
    "uname-r": lambda i: "5.15.0-91-generic",
    "boot-id": lambda i: "3b1f5c2e-7d4a-4e8b-9c61-0f2a8d9e1b47",
    "uptime": lambda i: "12345.67 23456.78",
    "boot-files": lambda i: f"vmlinuz-5.15.0-{i}-generic\ninitrd.img-5.15.0-{i}-generic",
    "boot-df": lambda i: f"/dev/sda{i}" + " " * 200 + "1 2 3 4",
    "proc-cmdline": lambda i: "BOOT_IMAGE=/vmlinuz-5.15.0-91-generic " + "a=b " * 50,
    "modules-dirs": lambda i: f"5.15.0-{i}-generic",
    "kernels-dpkg": lambda i: f"linux-image-5.15.0-{i}-generic 5.15.0-{i}.{i} ii ",
    "kernels-rpm": lambda i: f"kernel-core-5.14.0-{i}.{i}.1.el9_3.x86_64",
    "default-kernel": lambda i: "/kernel-" * 40 + " x",
    "reboot-required": lambda i: "*** System restart required ***",
    "reboot-required-pkgs": lambda i: f"linux-image-{i}",
    "needrestart": lambda i: f"NEEDRESTART-SVC: s{i}.service",
    "needs-restarting": lambda i: f"  * pkg{i}\n  p{i} -> x",
    "kpatch": lambda i: f"kpatch_{i} [enabled]\nkpatch_{i} (5.14.0-{i})",
    "ksplice": lambda i: f"[abcdefgh] update {i} " + "'\"" * 20,
    "sys-livepatch": lambda i: f"p{i} enabled=1 transition=0",
    "systemd-state": lambda i: "running",
    "unit-files": lambda i: f"u{i}.service disabled enabled",
    "units": lambda i: f'u{i}.service loaded active running a "quoted" description',
    "failed-units": lambda i: f"● f{i}.service loaded failed failed x",
    "fstab": lambda i: f"/dev/sd{i} /mnt/m\\040{i} ext4 rw 0 0 # c",
    "mounts": lambda i: f"/dev/sd{i} /srv/n{i} ext4 rw,relatime 0 0",
    "sysctl-persisted": lambda i: (
        f"#@file /etc/sysctl.d/{i}.conf\nnet.ipv4.conf.*.k{i % 150} = {i}"
    ),
    "sysctl-runtime": lambda i: f"net.ipv4.conf.if{i}.k{i % 150} = {i}",
    "probe-version": lambda i: "1",
    "grub-default": lambda i: "saved_entry=" + "(1" * 100 + "gnulinux-1" * 20,
    "vmlinuz-link": lambda i: "/boot/vmlinuz-5.15.0-91-generic",
    "socket-units": lambda i: f"/run/s{i}.sock s{i}.socket u{i}.service,x{i}.service",
    "timer-units": lambda i: f"Mon 2024-01-01 t{i}.timer u{i}.service",
}


def hostile_section(name: str) -> str:
    """One section at exactly its cap (the last line break included): rows for half of it,
    filler for the rest."""
    cap = SECTION_CAPS.get(name, DEFAULT_SECTION_CAP)
    if name == "livepatch-canonical":
        text = _yaml_bomb(cap)
    elif name == "exit-codes":
        real = "".join(f"{s} 0\n" for s in SECTIONS if s != "exit-codes")
        text = real + _rows(lambda i: f"zz-{i} 1", cap)
    else:
        text = _rows(ROWS[name], cap // 2) + _filler(cap)
    # End on a whole line (a cut alias or row would only make the parser give up sooner),
    # padded with blanks to the cap exactly.
    whole = text[: cap - 1].rfind("\n") + 1
    return text[:whole] + " " * (cap - 1 - whole) + "\n"


def hostile_probe() -> str:
    """Every section of the probe, each at its cap."""
    return "".join(f"@@rebootable:{name}@@\n{hostile_section(name)}" for name in SECTIONS)


def normal_probe() -> str:
    return NORMAL_PROBE.read_text()
