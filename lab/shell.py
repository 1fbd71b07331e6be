"""A tiny shell: the commands a simulated host understands, with real-looking output and status.

Understood: the probe script (anything carrying section markers), `true`, `false`, `exit N`,
`sleep N`, `echo`, `export`, `unset`, `cd`, `hostname`, the probe's single commands,
`systemctl` (is-system-running, is-active, is-enabled, is-failed, start, stop, restart, enable,
disable, reboot, daemon-reload), `systemd-run` (a transient service: `--unit=NAME COMMAND…`),
`reboot`, `shutdown -r`, `lab-health`; `sudo [-n]`, `VAR=value` prefixes, `sh -c '...'`
wrappers, `$VAR` from the session environment, and `;`, `&&`, `||`, newline sequences.
Anything else is "command not found" with status 127.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lab.distros import Distro, get_distro
from lab.hoststate import HostState, Unit
from lab.probe import SECTION_RE, render_probe, render_section
from lab.units import transient_service

# Single commands of the probe table, answered by the section renderer of the same output.
SINGLE_COMMANDS = {
    "date +%s": "now",
    "cat /etc/os-release": "os-release",
    "uname -r": "uname-r",
    "cat /proc/sys/kernel/random/boot_id": "boot-id",
    "cat /proc/uptime": "uptime",
    "ls -1 /boot": "boot-files",
    "df -P /boot": "boot-df",
    "cat /proc/cmdline": "proc-cmdline",
    "ls -1 /lib/modules": "modules-dirs",
    "rpm -q kernel kernel-core kernel-uek kernel-default": "kernels-rpm",
    "grubby --default-kernel": "default-kernel",
    "cat /var/run/reboot-required": "reboot-required",
    "cat /var/run/reboot-required.pkgs": "reboot-required-pkgs",
    "needrestart -b": "needrestart",
    "needs-restarting -r": "needs-restarting",
    "canonical-livepatch status --format json": "livepatch-canonical",
    "kpatch list": "kpatch",
    "systemctl list-unit-files --type=service --no-legend --no-pager": "unit-files",
    "systemctl list-units --type=service --all --no-legend --no-pager --plain": "units",
    "systemctl list-units --failed --no-legend --no-pager --plain": "failed-units",
    "cat /etc/fstab": "fstab",
    "cat /proc/self/mounts": "mounts",
    "sysctl -a": "sysctl-runtime",
    "systemctl list-sockets --all --no-legend --no-pager": "socket-units",
    "systemctl list-timers --all --no-legend --no-pager": "timer-units",
}
REBOOT_COMMANDS = {
    ("reboot",),
    ("systemctl", "reboot"),
    ("shutdown", "-r", "now"),
    ("shutdown", "-r", "+0"),
    ("shutdown", "-r"),
    ("init", "6"),
}
# `systemctl is-enabled` exits 0 for these (systemctl(1), "is-enabled output").
_ENABLED_STATES = {
    "enabled",
    "enabled-runtime",
    "static",
    "alias",
    "indirect",
    "generated",
    "transient",
}
_WRAPPER = re.compile(r"^\s*(?:sudo\s+(?:-n\s+)?)?(?:/usr)?(?:/bin/)?(?:ba|da)?sh\s+-c\s+")
_SHELLS = {"sh", "bash", "dash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/dash"}


class SessionClosed(Exception):
    """The host went down under the session (a reboot)."""


@dataclass
class ShellContext:
    state: HostState
    env: dict[str, str]
    write: Callable[[bytes], None]
    write_err: Callable[[bytes], None]
    now: Callable[[], float]
    request_reboot: Callable[[str], None]
    probe_filter: Callable[[str], bytes] | None = None  # the garbage fault corrupts probe output
    health_ok: Callable[[], bool] = lambda: True

    @property
    def distro(self) -> Distro:
        return get_distro(self.state.distro)


def reads_script_from_stdin(command: str) -> bool:
    """`sh`, `sh -s`, `bash -s --` …: the script arrives on standard input.

    Words are read one at a time and the answer comes at the first that rules it out: a probe
    sent as the command line is kilobytes that `shlex.split` would take most of the lab's CPU
    per session to tokenize, only to find its first word is not a shell.
    """
    lexer = shlex.shlex(command, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # as shlex.split: '#' is an ordinary character
    words = iter(lexer)
    try:
        word = _after_prefixes(words)
        if word not in _SHELLS:
            return False
        return all(w in ("-s", "--", "-e", "-u", "-eu", "-x") for w in words)
    except ValueError:  # unbalanced quotes: not a shell started bare
        return False


def _after_prefixes(words: Iterator[str]) -> str | None:
    """The first word after `sudo [-opts]`, `exec`, `env`, `command` and `NAME=value`."""
    word = next(words, None)
    while word is not None:
        if word == "sudo":
            word = next(words, None)
            while word is not None and word.startswith("-"):
                word = next(words, None)
        elif word in ("exec", "env", "command") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            word = next(words, None)
        else:
            break
    return word


def _strip_prefixes(words: list[str]) -> list[str]:
    """`words` after `sudo [-opts]`, `exec`, `env`, `command` and `NAME=value` prefixes."""
    rest = iter(words)
    first = _after_prefixes(rest)
    return [] if first is None else [first, *rest]


def _unwrap(text: str) -> str:
    for _ in range(3):
        if not _WRAPPER.match(text):
            break
        try:
            words = shlex.split(text)
        except ValueError:
            break
        words = _strip_prefixes(words)
        if len(words) >= 3 and words[0] in _SHELLS and words[1] == "-c":
            text = words[2]
        else:
            break
    return text


def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), text)


def _split_sequence(text: str) -> list[tuple[str, str]]:
    """[(operator before, command)], splitting on ; && || and newlines outside quotes."""
    parts: list[tuple[str, str]] = []
    op, buf, quote, i = ";", [], "", 0
    while i < len(text):
        c = text[i]
        if quote:
            buf.append(c)
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif c in ";\n":
            parts.append((op, "".join(buf)))
            op, buf = ";", []
        elif text.startswith("&&", i) or text.startswith("||", i):
            parts.append((op, "".join(buf)))
            op, buf = text[i : i + 2], []
            i += 1
        else:
            buf.append(c)
        i += 1
    parts.append((op, "".join(buf)))
    return [(o, c.strip()) for o, c in parts if c.strip() and not c.strip().startswith("#")]


async def execute(ctx: ShellContext, text: str) -> int:
    """Run `text`; returns the exit status, or raises SessionClosed when a reboot cut it."""
    text = _unwrap(text)
    if SECTION_RE.search(text):
        output = render_probe(ctx.state, text, ctx.now())
        ctx.write(ctx.probe_filter(output) if ctx.probe_filter else output.encode())
        return 0
    status = 0
    for op, command in _split_sequence(text):
        if (op == "&&" and status != 0) or (op == "||" and status == 0):
            continue
        try:
            words = shlex.split(_expand(command, ctx.env))
        except ValueError as exc:
            ctx.write_err(f"bash: syntax error: {exc}\n".encode())
            return 2
        words = _strip_prefixes(words)
        if not words:
            continue
        if words[0] == "exit":
            return _int_arg(words, status) & 0xFF
        status = await _run_simple(ctx, words)
    return status


def _int_arg(words: list[str], default: int) -> int:
    try:
        return int(words[1]) if len(words) > 1 else default
    except ValueError:
        return 2


def _not_found(ctx: ShellContext, name: str) -> int:
    # The login shell is bash everywhere; bash >= 5.1 names the line.
    if ctx.distro.key in ("ubuntu-20.04", "rhel-8", "sles-15"):
        ctx.write_err(f"bash: {name}: command not found\n".encode())
    else:
        ctx.write_err(f"bash: line 1: {name}: command not found\n".encode())
    return 127


async def _run_simple(ctx: ShellContext, words: list[str]) -> int:
    name = words[0]
    joined = " ".join(words)
    if tuple(words) in REBOOT_COMMANDS:
        ctx.request_reboot(joined)
        raise SessionClosed(joined)
    if joined in SINGLE_COMMANDS:
        out, status = render_section(ctx.state, SINGLE_COMMANDS[joined], ctx.now())
        if status == 127:
            return _not_found(ctx, name)
        ctx.write(out.encode())
        return status
    if name in ("true", ":", "cd"):
        return 0
    if name == "export":
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if sep:
                ctx.env[key] = value
        return 0
    if name == "unset":
        for word in words[1:]:
            ctx.env.pop(word, None)
        return 0
    if name == "false":
        return 1
    if name == "sleep":
        try:
            await asyncio.sleep(float(words[1]))
        except (IndexError, ValueError):
            ctx.write_err(b"sleep: missing operand\n")
            return 1
        return 0
    if name == "echo":
        ctx.write((" ".join(words[1:]) + "\n").encode())
        return 0
    if name == "hostname":
        ctx.write((ctx.state.name + "\n").encode())
        return 0
    if name == "lab-health":
        target = ctx.env.get("REBOOTABLE_HOST", "")
        if ctx.health_ok():
            ctx.write(f"ok {ctx.state.name} REBOOTABLE_HOST={target}\n".encode())
            return 0
        ctx.write_err(f"lab-health: {ctx.state.name}: application check failed\n".encode())
        return 1
    if name == "systemctl":
        return _systemctl(ctx, words[1:])
    if name == "systemd-run":
        return _systemd_run(ctx, words[1:])
    return _not_found(ctx, name)


def _unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"


def _systemctl(ctx: ShellContext, args: list[str]) -> int:
    args = [a for a in args if a not in ("--no-pager", "-q", "--quiet", "--no-block")]
    if not args:
        ctx.write_err(b"Too few arguments.\n")
        return 1
    verb, units = args[0], [_unit_name(a) for a in args[1:]]
    state = ctx.state
    if verb == "is-system-running":
        value = state.system_state(ctx.now())
        ctx.write(f"{value}\n".encode())
        return 0 if value == "running" else 1
    if verb == "daemon-reload":
        return 0
    if verb in ("is-active", "is-failed"):
        results = [state.units[u].active if u in state.units else "inactive" for u in units]
        ctx.write("".join(r + "\n" for r in results).encode())
        wanted = "active" if verb == "is-active" else "failed"
        return 0 if wanted in results else (3 if verb == "is-active" else 1)
    if verb == "is-enabled":
        status = 1
        for u in units:
            unit = state.units.get(u)
            if unit is None or unit.kind == "gone":
                msg = f"Failed to get unit file state for {u}: No such file or directory\n"
                ctx.write_err(msg.encode())
                continue
            file_state = unit.file_state if unit.kind != "inst" else "enabled"
            ctx.write(f"{file_state}\n".encode())
            if file_state in _ENABLED_STATES:
                status = 0
        return status
    if verb in ("start", "restart", "stop", "enable", "disable"):
        return _change_units(ctx, verb, units)
    ctx.write_err(f'Unknown command verb "{verb}".\n'.encode())
    return 1


# systemd-run options that take a value (as `--opt=value` or `--opt value`), and flags that
# change nothing the lab shows.
_RUN_VALUED = {
    "-u",
    "--unit",
    "-p",
    "--property",
    "--description",
    "--slice",
    "-E",
    "--setenv",
    "--uid",
    "--gid",
    "--nice",
    "--service-type",
    "--working-directory",
}
_RUN_FLAGS = {"--no-block", "-r", "--remain-after-exit", "--no-ask-password", "-G", "--collect"}


def _systemd_run(ctx: ShellContext, args: list[str]) -> int:
    """`systemd-run [--unit=NAME] [options] COMMAND…`: a transient service that runs until it
    is stopped or the host reboots. Scopes, user units and waiting are not simulated."""
    name, description, quiet, i = "", "", False, 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        key, eq, value = arg.partition("=")
        if key in _RUN_VALUED:
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            if key in ("-u", "--unit"):
                name = _unit_name(value)
            elif key == "--description":
                description = value
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg not in _RUN_FLAGS:
            ctx.write_err(f"lab: systemd-run {arg} is not simulated\n".encode())
            return 1
        i += 1
    argv = args[i:]
    if not argv:
        ctx.write_err(b"Command line to execute required.\n")
        return 1
    units = ctx.state.units
    number = 1
    while not name and f"run-u{number}.service" in units:
        number += 1
    name = name or f"run-u{number}.service"
    if name in units and units[name].kind != "gone":
        message = f"Unit {name} was already loaded or has a fragment file."
        ctx.write_err(f"Failed to start transient service unit: {message}\n".encode())
        return 1
    unit = transient_service(name, argv)
    if description:
        unit.description = description
    units[name] = unit
    if not quiet:
        ctx.write_err(f"Running as unit: {name}\n".encode())
    return 0


def _change_units(ctx: ShellContext, verb: str, units: list[str]) -> int:
    if not units:
        ctx.write_err(b"Too few arguments.\n")
        return 1
    status = 0
    for name in units:
        unit: Unit | None = ctx.state.units.get(name)
        if unit is None or unit.kind == "gone":
            what = "start" if verb == "restart" else verb
            if verb in ("enable", "disable"):
                ctx.write_err(f"Failed to {what} unit: Unit file {name} does not exist.\n".encode())
            else:
                ctx.write_err(f"Failed to {what} {name}: Unit {name} not found.\n".encode())
            status = 5 if verb not in ("enable", "disable") else 1
            continue
        if verb in ("start", "restart"):
            if unit.fails:
                unit.active, unit.sub = "failed", "failed"
                message = (
                    f"Job for {name} failed because the control process exited with error code.\n"
                    f'See "systemctl status {name}" and "journalctl -xeu {name}" for details.\n'
                )
                ctx.write_err(message.encode())
                status = 1
            else:
                unit.active = "active"
                unit.sub = "exited" if unit.kind == "exit" else "running"
                if unit.kind == "file":
                    unit.kind = "run"  # a unit file started by hand is now loaded and running
        elif verb == "stop":
            unit.active, unit.sub = "inactive", "dead"
            if unit.file_state == "transient":
                del ctx.state.units[name]  # a stopped transient unit is garbage-collected
        elif verb == "enable" and unit.file_state == "transient":
            path = f"/run/systemd/transient/{name}"
            ctx.write_err(
                f"Failed to enable unit: Unit {path} is transient or generated.\n".encode()
            )
            status = 1
        elif verb == "enable":
            if unit.file_state in ("disabled", "indirect"):
                unit.file_state = "enabled"
                ctx.write_err(
                    f"Created symlink /etc/systemd/system/multi-user.target.wants/{name} → "
                    f"/usr/lib/systemd/system/{name}.\n".encode()
                )
        elif verb == "disable" and unit.file_state == "enabled":
            unit.file_state = "disabled"
            ctx.write_err(f"Removed /etc/systemd/system/multi-user.target.wants/{name}.\n".encode())
    return status
