"""`manage.py lab …`: serve a simulated fleet, steer it while it runs, read its ledger."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab import control
from lab.faults import FAULTS
from lab.ledger import Ledger
from lab.store import LabError, StateDir

DEFAULT_STATE_DIR = "var/lab"
DEFAULT_HOSTS = 20


def _stamp(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Command(BaseCommand):
    help = "Run and steer the simulated fleet (SSH servers on loopback that behave like hosts)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def with_dir(p: CommandParser) -> CommandParser:
            p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="lab state directory")
            return p

        serve = with_dir(sub.add_parser("serve", help="start the lab and serve until interrupted"))
        serve.add_argument("--hosts", type=int, help=f"number of hosts (default {DEFAULT_HOSTS})")
        serve.add_argument("--seed", type=int, help="fleet seed (default 1)")
        serve.add_argument("--time-scale", type=float, default=1.0, help="boot time factor")
        serve.add_argument("--port", type=int, help="SSH port of every host (default 2222)")
        serve.add_argument("--base-address", help="hosts get addresses after it (127.10.0.0)")
        serve.add_argument("--register", action="store_true", help="upsert hosts into inventory")
        serve.add_argument(
            "--service-port", type=int, help="every host serves its HTTP service on this port"
        )

        fault = with_dir(sub.add_parser("fault", help="give a running host a fault, or clear"))
        fault.add_argument("host")
        fault.add_argument("kind", help=f"one of: {', '.join(FAULTS)}, or clear")

        reboot = with_dir(sub.add_parser("reboot", help="reboot a host of the running lab"))
        reboot.add_argument("host")

        with_dir(sub.add_parser("status", help="hosts up, down and faulted"))
        hosts = with_dir(sub.add_parser("hosts", help="list hosts (address, distro, key)"))
        hosts.add_argument("--known-hosts", action="store_true", help="print known_hosts lines")
        ledger = with_dir(sub.add_parser("ledger", help="print every reboot the lab received"))
        ledger.add_argument("--json", action="store_true", help="one JSON object per reboot")
        with_dir(sub.add_parser("register", help="upsert the lab's hosts into the inventory"))
        hap = with_dir(
            sub.add_parser("haproxy-config", help="print an HAProxy configuration for a group")
        )
        hap.add_argument("group")
        hap.add_argument("--service-port", type=int, default=8080, help="the lab's service port")
        hap.add_argument("--bind", default="127.0.0.1:8080", help="the frontend's address")
        hap.add_argument(
            "--runtime-api",
            default="/tmp/rebootable-haproxy.sock",
            help="stats socket: a Unix socket path or host:port",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            getattr(self, "do_" + opts["action"].replace("-", "_"))(opts)
        except LabError as exc:
            raise CommandError(str(exc)) from exc
        except BrokenPipeError:  # `lab hosts | head`: the reader has had enough
            sys.stderr.close()

    # ------------------------------------------------------------------ serve
    def do_serve(self, opts: dict[str, Any]) -> None:
        import asyncssh

        # Loaded per action: the simulator pulls in asyncssh (serve, register only).
        from lab.simulator import Lab

        asyncssh.set_log_level("WARNING")  # one line per listener and login is noise here
        store = StateDir(opts["state_dir"])
        existing = store.load_settings()
        known = len(list(store.hosts_dir.glob("*.json"))) if store.hosts_dir.exists() else 0
        lab = Lab(
            store.path,
            hosts=opts["hosts"] if opts["hosts"] is not None else (known or DEFAULT_HOSTS),
            seed=_pick(opts["seed"], existing and existing.seed, 1),
            time_scale=opts["time_scale"],
            base_address=_pick(
                opts["base_address"], existing and existing.base_address, "127.10.0.0"
            ),
            port=_pick(opts["port"], existing and existing.port, 2222),
            service_port=opts["service_port"],
        )
        started = time.monotonic()
        lab.start()
        try:
            infos = list(lab.hosts.values())
            self.stdout.write(
                f"lab: {len(infos)} hosts serving SSH from {store.path} "
                f"(started in {time.monotonic() - started:.1f}s)"
            )
            if infos:
                first, last = infos[0], infos[-1]
                self.stdout.write(
                    f"  {first.name} {first.address}:{first.port} … {last.name} {last.address}"
                )
            self.stdout.write(
                f"  client key: {lab.client_key_path} (user {infos[0].ssh_user})" if infos else ""
            )
            if lab.service_port:
                self.stdout.write(f"  HTTP service on port {lab.service_port} of every host")
            if opts["register"]:
                # Loaded per action: the simulator pulls in asyncssh (serve, register only).
                from lab.register import register_hosts

                count = register_hosts(lab)
                self.stdout.write(f"  registered {count} hosts in the inventory")
            self.stdout.write("  Ctrl-C stops the lab; its state stays in the state directory.")
            self.stdout.flush()
            # Both, explicitly: a shell script's background job inherits SIGINT ignored.
            signal.signal(signal.SIGTERM, _raise_interrupt)
            signal.signal(signal.SIGINT, _raise_interrupt)
            lab.serve_forever()
        finally:
            lab.stop()
            self.stdout.write("lab: stopped")

    # ------------------------------------------------------------------ steer
    def do_fault(self, opts: dict[str, Any]) -> None:
        kind = opts["kind"]
        if kind == "clear":
            faults = control.request(opts["state_dir"], "clear", host=opts["host"])
        else:
            if kind not in FAULTS:
                raise CommandError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}, clear")
            faults = control.request(opts["state_dir"], "fault", host=opts["host"], kind=kind)
        self.stdout.write(f"{opts['host']}: faults {', '.join(faults) or 'none'}")

    def do_reboot(self, opts: dict[str, Any]) -> None:
        control.request(opts["state_dir"], "reboot", host=opts["host"])
        self.stdout.write(f"{opts['host']}: rebooting")

    def do_status(self, opts: dict[str, Any]) -> None:
        store = StateDir(opts["state_dir"])
        if store.read_control() is not None:
            status = control.request(store.path, "status")
            self.stdout.write(f"lab serving from {store.path}: {status['hosts']} hosts")
        else:
            states = store.load_hosts()
            if not states and store.load_settings() is None:
                raise CommandError(f"no lab in {store.path}")
            status = {
                "hosts": len(states),
                "status": _count(s.status for s in states),
                "faults": {s.name: s.faults for s in states if s.faults},
                "not_up": [s.name for s in states if s.status != "up"],
            }
            self.stdout.write(f"lab in {store.path} is not running: {status['hosts']} hosts")
        for key, value in sorted(status["status"].items()):
            self.stdout.write(f"  {key:<10} {value}")
        for name in status["not_up"]:
            self.stdout.write(f"  not up: {name}")
        for name, faults in sorted(status["faults"].items()):
            self.stdout.write(f"  fault: {name}: {', '.join(faults)}")

    def do_hosts(self, opts: dict[str, Any]) -> None:
        # Loaded per action: the simulator pulls in asyncssh (serve, register only).
        from lab.simulator import offline_hosts

        for info, st in offline_hosts(opts["state_dir"]):
            if opts["known_hosts"]:
                self.stdout.write(info.known_hosts_line)
            else:
                self.stdout.write(
                    f"{info.name:<14} {info.address}:{info.port:<6} {info.distro:<13}"
                    f" {st.status:<9} {','.join(info.groups):<12} {','.join(st.faults) or '-'}"
                )

    def do_ledger(self, opts: dict[str, Any]) -> None:
        store = StateDir(opts["state_dir"])
        try:
            ledger = Ledger.read(store.ledger_path)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for r in ledger:
            if opts["json"]:
                self.stdout.write(json.dumps(r.__dict__ | {"groups": list(r.groups)}))
                continue
            took = f"{r.up_at - r.down_at:.2f}s" if r.up_at is not None else "-"
            self.stdout.write(
                f"{_stamp(r.down_at)} {r.host:<14} {r.outcome:<9} down {took:>8} "
                f"{r.boot_id_before[:8]}→{(r.boot_id_after or '-')[:8]} "
                f"{r.kernel_before}→{r.kernel_after or '-'} ({r.command})"
            )
        if not opts["json"]:
            self.stdout.write(f"{len(ledger)} reboots")

    def do_register(self, opts: dict[str, Any]) -> None:
        # Loaded per action: the simulator pulls in asyncssh (serve, register only).
        from lab.register import register_hosts

        # Loaded per action: the simulator pulls in asyncssh (serve, register only).
        from lab.simulator import offline_hosts

        count = register_hosts([info for info, _st in offline_hosts(opts["state_dir"])])
        self.stdout.write(f"registered {count} hosts in the inventory")

    def do_haproxy_config(self, opts: dict[str, Any]) -> None:
        # Loaded per action: the simulator pulls in asyncssh (serve, register only).
        from lab import haproxy
        from lab.simulator import offline_hosts

        infos = [info for info, _st in offline_hosts(opts["state_dir"])]
        servers = haproxy.group_servers(infos, opts["group"], opts["service_port"])
        self.stdout.write(
            haproxy.config(
                servers, bind=opts["bind"], runtime_api=opts["runtime_api"], backend=opts["group"]
            ),
            ending="",
        )


def _pick(given: Any, stored: Any, default: Any) -> Any:
    if given is not None:
        return given
    return stored if stored else default


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
