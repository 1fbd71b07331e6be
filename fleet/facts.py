"""Normalised facts from one probe output (DESIGN.md "The probe protocol").

`parse_probe(raw)` never raises: a section that cannot be parsed, or that failed, adds
`{section, message}` to `errors` and the rest of the host is still described. Facts only: the
findings DESIGN.md lists with them are judged apart, against the host's limits
(`fleet/judge.py`). Extra keys beyond DESIGN.md's list:

- `probe_version`: the probe's own version, or null.
- `sections_ok`: sections present in the output, whole and parsed without an error, or whose
  tool is missing (the audit closes a finding only when the sections it depends on are in
  this list).
- `section_verdicts`: `{section: {verdict, why}}` for every section of the probe but
  `exit-codes`: "parsed", "empty" (it answered "nothing"), "failed" (it gave no usable answer:
  a command that failed printed nothing, which is no empty answer) or "absent" (not in the
  output, or its tool is missing); `parsers/verdicts.py` has the rules. A failed section is
  not read into any fact and is never in `sections_ok`; finding kinds that depend on it are
  neither raised nor resolved, and the audit keeps the facts it feeds from the last audit.
- `incomplete`: "" when the output is one whole probe run, else why not
  (`parsers/completeness.py`); then its last section is suspect and not in `sections_ok`.
- `sections_missing`: the probe's sections (`probe_script.SECTIONS`) the output does not hold
  whole: absent, or the one an incomplete output ends with.
- `uptime_seconds`, `boot_free_mb`: raw inputs of the uptime and /boot space policies.
- `default_boot_kernel_inferred`: true when no boot loader source answered and the newest
  installed kernel is assumed to be the next boot.
- `package_family`: "deb", "rpm" or null, the version order used for kernels.
- `newest_kernel_has_initrd`, `booted_kernel_modules_present`: true/false/null checks of /boot
  and /lib/modules.
- `needrestart`: `{kcur, kexp, ksta, services}` or null.
- `reboot_required_sources`: the sources that answered whether a reboot is required, yes or no
  ("reboot-required-file", "needrestart", "needs-restarting", "kernel-update", "livepatch"):
  what a `reboot_required` of false rests on; none when it is null (unknown).
- `kernel_source`: "packages" when kernel packages are listed, "platform" when the host holds no
  kernel of its own (no kernel packages, no kernel in /boot, nothing but the running kernel's
  modules: a hypervisor, container host or OS image supplies it), else null (unknown).
- `unit_file_states`: every service unit file and its state (templates included).
- `sysctl_runtime`: `{key: runtime value}` of the sysctl keys worth comparing across a reboot
  (`fleet/sysctl_watch.py`: common tunables no sysctl.d file sets); empty when `sysctl -a` was
  not read.
- `socket_activated`, `timer_activated`: services started by sockets and timers.
- `sections_cut`: sections longer than their cap in `SECTION_CAPS`. Each is failed (a cut list
  would make "X is missing" findings up) and an entry in `errors`.

Every parser is linear in its input and every section has a size cap, so a hostile host costs
the web worker that parses its push a bounded amount of CPU (`benchmarks/parse_hostile.py`).
"""

from __future__ import annotations

import bisect
import fnmatch
import posixpath
import re
from datetime import UTC, datetime
from typing import Any

from . import parsers, sysctl_watch
from .parsers import ParseError, completeness, verdicts
from .probe_script import SECTIONS
from .versions import Family, compare_kernels, sort_kernels

MISSING_TOOL = 127
COMPLETE = completeness.COMPLETE_MARKER

# Filesystem types that are never expected in fstab: kernel/API filesystems, memory-backed
# mounts, container layers, snap squashfs images, FUSE portals and automount placeholders.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "pstore",
        "ramfs",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
        "fuse.portal",
        "fuse.gvfsd-fuse",
        "fuse.lxcfs",
        "fuse.snapfuse",
        "nfsd",
        "zfs",
        "shm",
        "aufs",
        "iso9660",
        "rootfs",
    }
)
# Mount points managed by container runtimes, systemd or snapd, not by fstab.
IGNORED_MOUNT_PREFIXES = (
    "/proc/",
    "/sys/",
    "/dev/",
    "/run/",
    "/snap/",
    "/var/snap/",
    "/var/lib/docker/",
    "/var/lib/containers/",
    "/var/lib/kubelet/",
    "/var/lib/lxd/",
    "/var/lib/lxc/",
)
CONTAINER_FILE_MOUNTS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})
NOT_WAITED_FOR = ("noauto", "nofail", "x-systemd.automount", "comment=systemd.automount")

KIB = 1024
# Characters of one section's text that are read; a longer section is reported and not read
# at all (its verdict is failed). Sized at many times what the largest real hosts print (1,500
# units, 5,000 mounts, sysctl -a with hundreds of interfaces fit well inside), so only a
# broken or hostile host meets a cap.
SECTION_CAPS: dict[str, int] = {
    **dict.fromkeys(
        (
            "now",
            "uname-r",
            "boot-id",
            "uptime",
            "boot-df",
            "default-kernel",
            "reboot-required",
            "systemd-state",
            "probe-version",
            "vmlinuz-link",
            "exit-codes",
        ),
        4 * KIB,
    ),
    **dict.fromkeys(("os-release", "proc-cmdline", "grub-default"), 16 * KIB),
    **dict.fromkeys(
        (
            "boot-files",
            "modules-dirs",
            "kernels-dpkg",
            "kernels-rpm",
            "reboot-required-pkgs",
            "needs-restarting",
            "livepatch-canonical",
            "kpatch",
            "sys-livepatch",
        ),
        64 * KIB,
    ),
    **dict.fromkeys(
        (
            "needrestart",
            "ksplice",
            "failed-units",
            "socket-units",
            "timer-units",
            "fstab",
            "sysctl-persisted",
        ),
        256 * KIB,
    ),
    **dict.fromkeys(("unit-files", "units", "mounts", "sysctl-runtime"), 1024 * KIB),
}
DEFAULT_SECTION_CAP = 64 * KIB  # a section a newer probe added
# sysctl globs (`net.ipv4.conf.*.rp_filter`) are matched against the runtime keys that share
# their literal prefix; past this many globs or (glob, key) pairs the drift is not computed.
MAX_GLOBS = 200
MAX_GLOB_MATCHES = 200_000
MAX_GLOB_LENGTH = 256


def cap_section(name: str, text: str) -> tuple[str, str]:
    """The part of a section that is kept, and "" or why it was cut (then it is not read).

    The cut falls at the last line break before the cap, so no half line is kept.
    """
    cap = SECTION_CAPS.get(name, DEFAULT_SECTION_CAP)
    if len(text) <= cap:
        return text, ""
    end = text.rfind("\n", 0, cap)
    kept = text[: end + 1] if end > 0 else text[:cap]
    why = (
        f"{len(text):,} characters, over this section's cap of {cap:,}: not read (a list cut "
        "short would report what fell past the cut as missing)"
    )
    return kept, why


def _empty_facts() -> dict[str, Any]:
    return {
        "os": {"id": None, "version_id": None, "pretty_name": None},
        "booted_kernel": None,
        "boot_id": None,
        "booted_at": None,
        "installed_kernels": [],
        "newest_installed_kernel": None,
        "default_boot_kernel": None,
        "reboot_required": None,
        "reboot_reasons": [],
        "livepatch": {"provider": None, "state": "none", "patches": []},
        "systemd": {"state": None, "services": {}, "failed": []},
        "mounts_drift": {"not_mounted": [], "not_in_fstab": []},
        "sysctl_drift": [],
        "sysctl_runtime": {},
        "errors": [],
        "probe_version": None,
        "sections_ok": [],
        "uptime_seconds": None,
        "boot_free_mb": None,
        "default_boot_kernel_inferred": False,
        "package_family": None,
        "newest_kernel_has_initrd": None,
        "booted_kernel_modules_present": None,
        "needrestart": None,
        "reboot_required_sources": [],
        "kernel_source": None,
        "unit_file_states": {},
        "socket_activated": [],
        "timer_activated": [],
        "sections_cut": [],
        "incomplete": "",
        "sections_missing": [],
        "section_verdicts": {},
    }


class _Probe:
    """One probe output, parsed section by section, with a verdict per section
    (`parsers/verdicts.py`) and errors collected. A failed section is not parsed into
    `values`: nothing is read from it, so it cannot pass for an empty answer."""

    def __init__(self, raw: str) -> None:
        self.sections = parsers.split_sections(raw)
        # Judged on the sections as printed, before any is cut at its cap.
        self.incomplete = completeness.incomplete(self.sections)
        self.errors: list[dict[str, str]] = []
        self.values: dict[str, Any] = {}
        self.ok: list[str] = []
        self.codes: dict[str, int] = {}
        self.cut: list[str] = []
        self.verdicts: dict[str, verdicts.Verdict] = {}
        # Cut short (size cap, dropped connection) or mangled: the last section is suspect.
        self.last_suspect = list(self.sections)[-1] if self.sections and self.incomplete else ""
        for name, text in self.sections.items():
            kept, why = cap_section(name, text)
            if why:
                self.sections[name] = kept
                self.cut.append(name)
                self.fail(name, why)
        if COMPLETE in self.sections:
            try:
                self.codes = parsers.parse_exit_codes(self.sections[COMPLETE])
            except ParseError as exc:
                self.errors.append({"section": COMPLETE, "message": str(exc)})
            else:
                if COMPLETE not in self.cut:
                    self.values[COMPLETE] = self.codes
                    self.ok.append(COMPLETE)
        systemd_state = verdicts.systemd_state_of(self.sections)
        for name, text in self.sections.items():
            if name not in self.verdicts and name not in (COMPLETE, self.last_suspect):
                self._parse(name, text, systemd_state)
        if self.last_suspect not in ("", COMPLETE) and self.last_suspect not in self.verdicts:
            self.fail(self.last_suspect, verdicts.cut_short(self.incomplete).why)
        if self.last_suspect and COMPLETE not in self.sections:
            self.errors.append(
                {
                    "section": COMPLETE,
                    "message": f"missing: the output ends inside or after `{self.last_suspect}`",
                }
            )

    def _parse(self, name: str, text: str, systemd_state: str) -> None:
        parser = parsers.PARSERS.get(name)
        if parser is None:
            return  # a section from a newer probe: kept by split_sections, not interpreted
        status = self.codes.get(name)
        settled = verdicts.by_status(name, text, status, systemd_state=systemd_state)
        if settled is not None and settled.failed:
            self.fail(name, settled.why)
            return
        try:
            value = parser(text)  # an absent or empty section too: its value is "nothing"
        except ParseError as exc:
            self.fail(name, str(exc))
            return
        except Exception as exc:  # a parser bug must not cost the host its other facts
            self.fail(name, f"internal parser error: {exc!r}")
            return
        verdict = settled or verdicts.by_outcome(name, text, status, value)
        if verdict.failed:
            self.fail(name, verdict.why)
            return
        self.values[name] = value
        self.verdicts[name] = verdict
        self.ok.append(name)

    def fail(self, name: str, why: str, *, forget: bool = True) -> None:
        """This section gave no usable answer: nothing is read from it (unless `forget` is
        false: a fact judged from its value could not be), and `errors` says why."""
        self.verdicts[name] = verdicts.failed(why)
        self.errors.append({"section": name, "message": why})
        if forget:
            self.values.pop(name, None)
        if name in self.ok:
            self.ok.remove(name)

    def failed(self, name: str) -> bool:
        verdict = self.verdicts.get(name)
        return verdict is not None and verdict.failed

    def section_verdicts(self) -> dict[str, dict[str, str]]:
        """A verdict for every section of the probe (`exit-codes` aside), in its order."""
        found = {}
        for name in SECTIONS:
            if name == COMPLETE:
                continue
            verdict = self.verdicts.get(name) or verdicts.not_in_output(
                self.incomplete, self.last_suspect
            )
            found[name] = verdict.as_dict()
        return found

    def has(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def answered(self, name: str) -> bool:
        """The section ran its tool (present in the output, tool not missing)."""
        return name in self.sections and self.codes.get(name) != MISSING_TOOL


def parse_probe(raw: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The facts JSON of one probe output; never raises.

    `now` dates the boot when the output has no clock of its own (`now` section).
    """
    try:
        return _parse_probe(raw, now)
    except Exception as exc:  # last line of defence: report, never fail the host
        facts = _empty_facts()
        facts["errors"] = [{"section": "probe", "message": f"internal error: {exc!r}"}]
        facts["incomplete"] = f"internal parser error: {exc!r}"
        facts["sections_missing"] = list(SECTIONS)
        facts["section_verdicts"] = {
            name: verdicts.failed("internal parser error").as_dict()
            for name in SECTIONS
            if name != COMPLETE
        }
        return facts


def _parse_probe(raw: str, now: datetime | None) -> dict[str, Any]:
    facts = _empty_facts()
    if not isinstance(raw, str):
        raw = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    probe = _Probe(raw)
    if not probe.sections:
        probe.errors.append(
            {"section": "probe", "message": "no @@rebootable:<section>@@ markers in the output"}
        )

    _identity(facts, probe, now)
    _kernels(facts, probe)
    _livepatch(facts, probe)
    _reboot(facts, probe)
    _systemd(facts, probe)
    _mounts(facts, probe)
    _sysctl(facts, probe)
    _sysctl_runtime(facts, probe)

    # A section is whole and clean, or it is not: any error of its own (a failure, a cut, a
    # refused sudo, fstab lines it cannot read, a boot time out of range) keeps it out.
    erred = {e["section"] for e in probe.errors}
    facts["errors"] = probe.errors
    facts["sections_ok"] = sorted(set(probe.ok) - erred - {probe.last_suspect})
    facts["section_verdicts"] = probe.section_verdicts()
    facts["sections_cut"] = sorted(probe.cut)
    facts["incomplete"] = probe.incomplete
    whole = set(probe.sections) - {probe.last_suspect}
    facts["sections_missing"] = [name for name in SECTIONS if name not in whole]
    return facts


def _identity(facts: dict[str, Any], probe: _Probe, now: datetime | None) -> None:
    os_release = probe.get("os-release") or {}
    facts["os"] = {
        "id": os_release.get("ID"),
        "version_id": os_release.get("VERSION_ID"),
        "pretty_name": os_release.get("PRETTY_NAME") or os_release.get("NAME"),
    }
    facts["booted_kernel"] = probe.get("uname-r")
    facts["boot_id"] = probe.get("boot-id")
    facts["probe_version"] = probe.get("probe-version")
    uptime = probe.get("uptime")
    facts["uptime_seconds"] = uptime
    clock = probe.get("now")
    if clock is None and now is not None:
        clock = now.timestamp()
    if uptime is not None and clock is not None:
        try:
            booted = datetime.fromtimestamp(clock - uptime, tz=UTC).replace(microsecond=0)
        except (OverflowError, OSError, ValueError):
            probe.errors.append({"section": "uptime", "message": "boot time out of range"})
        else:
            facts["booted_at"] = booted.isoformat().replace("+00:00", "Z")
    df = probe.get("boot-df")
    if df:
        facts["boot_free_mb"] = int(df["available_kb"]) // 1024


def _kernels(facts: dict[str, Any], probe: _Probe) -> None:
    family: Family = None
    releases: list[str] = []
    if probe.get("kernels-dpkg"):
        family = "deb"
        releases += [k["release"] for k in probe.get("kernels-dpkg")]
    if probe.get("kernels-rpm"):
        family = family or "rpm"
        releases += [k["release"] for k in probe.get("kernels-rpm")]
    facts["package_family"] = family
    installed = sort_kernels(releases, family)
    facts["installed_kernels"] = installed
    facts["newest_installed_kernel"] = installed[-1] if installed else None

    default = probe.get("default-kernel")
    if default is None and probe.has("grub-default"):
        default = parsers.default_from_grub(probe.get("grub-default", {}))
    if default is None and probe.get("vmlinuz-link"):
        default = probe.get("vmlinuz-link")[0]
    if default is None and installed:
        default = installed[-1]
        facts["default_boot_kernel_inferred"] = True
    facts["default_boot_kernel"] = default

    boot_files = probe.get("boot-files")
    newest = facts["newest_installed_kernel"]
    if boot_files and newest and parsers.kernels_in_boot(boot_files):
        facts["newest_kernel_has_initrd"] = newest in parsers.initrds_in_boot(boot_files)
    modules = probe.get("modules-dirs")
    booted = facts["booted_kernel"]
    facts["kernel_source"] = _kernel_source(probe, installed, booted)
    # Only a package-managed kernel can lose its files: a platform kernel never had them here.
    if modules and booted and facts["kernel_source"] == "packages":
        facts["booted_kernel_modules_present"] = booted in modules


def _kernel_source(probe: _Probe, installed: list[str], booted: str | None) -> str | None:
    """Where the running kernel comes from: "packages" when kernel packages are listed,
    "platform" when nothing on the host holds a kernel (a hypervisor, container host or OS
    image such as Flatcar's supplies it), else None."""
    if installed:
        return "packages"
    listings = [name for name in ("kernels-dpkg", "kernels-rpm") if name in probe.sections]
    # A package listing that ran and was not read could have held kernels: unknown.
    if not listings or any(probe.answered(n) and not probe.has(n) for n in listings):
        return None
    if not (probe.has("boot-files") and probe.has("modules-dirs")):
        return None
    if parsers.kernels_in_boot(probe.values["boot-files"] or []):
        return None  # a kernel image in /boot that no package owns: a hand-installed kernel
    # An image-based OS ships the running kernel's modules in its read-only /usr; any other
    # release under /lib/modules means kernels come and go on this host by other means.
    if set(probe.values["modules-dirs"] or []) - {booted}:
        return None
    return "platform"


def _livepatch(facts: dict[str, Any], probe: _Probe) -> None:
    canonical = probe.get("livepatch-canonical")
    if canonical is None and probe.answered("livepatch-canonical"):
        if probe.sections["livepatch-canonical"].strip():
            # The client printed what no parser reads (its error says so): a client is
            # there, in a state not known, never "no live-patch tool".
            canonical = {"state": "unknown", "patches": []}
        elif probe.codes.get("livepatch-canonical", 0) != 0:
            # Installed but `status` failed with its message on stderr: not enabled.
            canonical = {"state": "disabled", "patches": []}
    if canonical is not None:
        facts["livepatch"] = {
            "provider": "canonical-livepatch",
            "state": canonical["state"],
            "patches": canonical["patches"],
        }
        return
    kpatch = probe.get("kpatch")
    if kpatch is not None:
        loaded = [{"name": p["name"], "enabled": p["enabled"]} for p in kpatch["loaded"]]
        state = "applied" if any(p["enabled"] for p in loaded) else "nothing-to-apply"
        facts["livepatch"] = {"provider": "kpatch", "state": state, "patches": loaded}
        return
    ksplice = probe.get("ksplice")
    if ksplice is not None:
        patches = [
            {"name": f"[{u['id']}] {u['description']}", "enabled": True} for u in ksplice["updates"]
        ]
        facts["livepatch"] = {
            "provider": "ksplice",
            "state": "applied" if patches else "nothing-to-apply",
            "patches": patches,
        }
        return
    sys_patches = probe.get("sys-livepatch") or []
    if sys_patches:
        patches = [{"name": p["name"], "enabled": p["enabled"]} for p in sys_patches]
        state = "applied" if any(p["enabled"] for p in patches) else "disabled"
        facts["livepatch"] = {"provider": "kernel-livepatch", "state": state, "patches": patches}
        return
    if any(probe.failed(name) for name in LIVEPATCH_SECTIONS):
        # A tool that could have named a provider failed: "none" is not known, only unknown.
        facts["livepatch"] = {"provider": None, "state": "unknown", "patches": []}


LIVEPATCH_SECTIONS = ("livepatch-canonical", "kpatch", "ksplice", "sys-livepatch")


def _reboot(facts: dict[str, Any], probe: _Probe) -> None:
    # Each source that answered, yes or no: a "no" is only as good as the sources behind it.
    answers: dict[str, bool] = {}
    booted, newest = facts["booted_kernel"], facts["newest_installed_kernel"]
    if booted and newest and facts["kernel_source"] == "packages":
        answers["kernel-update"] = compare_kernels(newest, booted, facts["package_family"]) > 0
    # The flag file is Debian's mechanism: its absence answers "no" only where it exists, and
    # not for a kernel the platform supplies (no package of it writes the flag).
    flag_applies = _debian_like(facts, probe) and facts["kernel_source"] != "platform"
    if probe.has("reboot-required"):
        flag = probe.values["reboot-required"] or probe.codes.get("reboot-required") == 0
        if flag or flag_applies:
            answers["reboot-required-file"] = bool(flag)
    needrestart = probe.get("needrestart")
    if needrestart:
        facts["needrestart"] = {k: needrestart[k] for k in ("kcur", "kexp", "ksta", "services")}
        if needrestart["ksta"] in (1, 2, 3):
            answers["needrestart"] = needrestart["ksta"] in (2, 3)
    if probe.has("needs-restarting") and probe.answered("needs-restarting"):
        verdict = probe.get("needs-restarting")
        if verdict is not None:
            answers["needs-restarting"] = bool(verdict["reboot_required"])
        elif probe.codes.get("needs-restarting") in (0, 1):
            answers["needs-restarting"] = probe.codes["needs-restarting"] == 1
    if facts["livepatch"]["state"] == "kernel-upgrade-required":
        answers["livepatch"] = True
    reasons = [name for name, says_yes in answers.items() if says_yes]
    facts["reboot_reasons"] = reasons
    facts["reboot_required_sources"] = list(answers)
    # A source that could have said yes and failed leaves a "no" unknown (`sudo -n` refused
    # to needrestart, a timed-out package listing): the others' silence proves nothing.
    could_say_yes = [*REBOOT_SOURCES, *(["reboot-required"] if flag_applies else [])]
    silenced = any(probe.failed(name) for name in could_say_yes)
    facts["reboot_required"] = True if reasons else (False if answers and not silenced else None)


# Sections whose failure leaves "no reboot required" unknown (the flag file only where it
# applies, see `_reboot`).
REBOOT_SOURCES = ("needrestart", "needs-restarting", "kernels-dpkg", "kernels-rpm")


def _debian_like(facts: dict[str, Any], probe: _Probe) -> bool:
    os_release = probe.get("os-release") or {}
    family = f"{os_release.get('ID', '')} {os_release.get('ID_LIKE', '')}".split()
    return probe.answered("kernels-dpkg") or "debian" in family or "ubuntu" in family


def _systemd(facts: dict[str, Any], probe: _Probe) -> None:
    unit_files: dict[str, str] = probe.get("unit-files") or {}
    units: dict[str, dict[str, str]] = probe.get("units") or {}
    services: dict[str, dict[str, Any]] = {}
    for name, unit in units.items():
        if name.endswith(".service"):
            services[name] = {
                "unit_file": unit_files.get(name),
                "active": unit["active"],
                "sub": unit["sub"],
            }
    for name, state in unit_files.items():
        if name.endswith(".service") and "@." not in name and name not in services:
            services[name] = {"unit_file": state, "active": None, "sub": None}
    facts["systemd"] = {
        "state": probe.get("systemd-state"),
        "services": dict(sorted(services.items())),
        "failed": sorted(probe.get("failed-units") or []),
    }
    facts["unit_file_states"] = dict(sorted(unit_files.items()))
    facts["socket_activated"] = sorted(
        {s for row in probe.get("socket-units") or [] for s in row["activates"]}
    )
    facts["timer_activated"] = sorted(
        {s for row in probe.get("timer-units") or [] for s in row["activates"]}
    )


def _clean_path(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def _mounts(facts: dict[str, Any], probe: _Probe) -> None:
    if not (probe.has("fstab") and probe.has("mounts")):
        return
    fstab = probe.values["fstab"]
    invalid = fstab["invalid_lines"]
    if invalid:
        # The valid entries are still judged; the section is not clean, so nothing resolves.
        message = f"{len(invalid)} line(s) with fewer than 3 fields, e.g. {invalid[0][:60]!r}"
        probe.errors.append({"section": "fstab", "message": message})
        probe.ok.remove("fstab")
        probe.verdicts["fstab"] = verdicts.Verdict(verdicts.PARSED, message)
    mounted = {_clean_path(m["file"]) for m in probe.values["mounts"]}
    in_fstab = set()
    not_mounted = []
    for entry in fstab["entries"]:
        target = _clean_path(entry["file"])
        in_fstab.add(target)
        if entry["vfstype"] == "swap" or not target.startswith("/"):
            continue
        if any(
            opt == flag or opt.startswith(flag + "=")
            for opt in entry["options"]
            for flag in NOT_WAITED_FOR
        ):
            continue
        if target not in mounted:
            not_mounted.append(target)
    not_in_fstab: set[str] = set()
    # A host with an empty fstab mounts through systemd units or a container runtime.
    uses_fstab = bool(fstab["entries"])
    for mount in probe.values["mounts"] if uses_fstab else []:
        target = _clean_path(mount["file"])
        if (
            mount["vfstype"] in PSEUDO_FILESYSTEMS
            or mount["vfstype"].startswith("fuse.")
            or target in in_fstab
            or target == "/"
            or target in CONTAINER_FILE_MOUNTS
            or target.startswith(IGNORED_MOUNT_PREFIXES)
            or (mount["vfstype"] == "squashfs" or "/snap/" in target)
        ):
            continue
        not_in_fstab.add(target)
    facts["mounts_drift"] = {
        "not_mounted": sorted(set(not_mounted)),
        "not_in_fstab": sorted(not_in_fstab),
    }


def _glob_matches(
    globs: list[tuple[str, str]], runtime: dict[str, str]
) -> list[tuple[str, str]] | None:
    """(runtime key, value) for each glob assignment in order, or None past the work budget.

    Only the runtime keys that share a glob's literal prefix are matched against it (found by
    bisection in the sorted keys), so the usual `net.ipv4.conf.*.x` costs a few hundred tests.
    """
    if not globs:
        return []
    if len(globs) > MAX_GLOBS:
        return None
    keys = sorted(runtime)
    found: list[tuple[str, str]] = []
    budget = MAX_GLOB_MATCHES
    for pattern, value in globs:
        if len(pattern) > MAX_GLOB_LENGTH:
            return None
        prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        start = bisect.bisect_left(keys, prefix)
        end = bisect.bisect_left(keys, prefix + "\U0010ffff") if prefix else len(keys)
        budget -= end - start
        if budget < 0:
            return None
        if end == start:
            continue
        match = re.compile(fnmatch.translate(pattern)).match
        found += [(key, value) for key in keys[start:end] if match(key)]
    return found


def _sysctl_runtime(facts: dict[str, Any], probe: _Probe) -> None:
    """The runtime values a reboot is compared with (the next boot's own are not knowable):
    the tunables no sysctl.d file sets. A key a file sets is `sysctl-drift`'s, before and
    after the reboot; a change to it is no lost runtime change."""
    if not probe.has("sysctl-runtime"):
        return
    runtime: dict[str, str] = probe.values["sysctl-runtime"]
    facts["sysctl_runtime"] = sysctl_watch.watched_values(
        runtime, _persisted_tunables(probe.get("sysctl-persisted") or {}, runtime)
    )


def _persisted_tunables(persisted: dict[str, dict[str, Any]], runtime: dict[str, str]) -> set[str]:
    """The watched tunables a sysctl.d file sets, by name or by a glob (past the glob budget,
    by name only: those keys stay watched)."""
    tunables = {k: runtime[k] for k in sysctl_watch.TUNABLES if k in runtime}
    expected = _expected_sysctl(persisted, tunables)
    if expected is None:
        return {k for k, s in persisted.items() if not s["glob"] and s["value"] is not None}
    return set(expected)


def _expected_sysctl(
    persisted: dict[str, dict[str, Any]], runtime: dict[str, str]
) -> dict[str, str] | None:
    """{key: value} the sysctl.d files set, globs applied to the `runtime` keys they match (an
    explicit assignment wins; `-key` shields a key from globs); None past the glob budget."""
    shielded = {key for key, setting in persisted.items() if setting["value"] is None}
    globs = [(k, s["value"]) for k, s in persisted.items() if s["glob"] and s["value"] is not None]
    matched = _glob_matches(globs, runtime)
    if matched is None:
        return None
    expected = {key: value for key, value in matched if key not in shielded}
    for key, setting in persisted.items():
        if not setting["glob"] and setting["value"] is not None:
            expected[key] = setting["value"]
    return expected


def _sysctl(facts: dict[str, Any], probe: _Probe) -> None:
    if not (probe.has("sysctl-persisted") and probe.has("sysctl-runtime")):
        return
    if facts["systemd"]["state"] == "offline":
        return  # a container without an init: nothing applies sysctl.d at its start
    persisted: dict[str, dict[str, Any]] = probe.values["sysctl-persisted"]
    runtime: dict[str, str] = probe.values["sysctl-runtime"]
    expected = _expected_sysctl(persisted, runtime)
    if expected is None:
        # Its values are read, but the drift they imply is not known: no "no drift" either.
        probe.fail(
            "sysctl-persisted",
            "too many or too long glob assignments to apply: sysctl drift not computed",
            forget=False,
        )
        return
    drift = []
    for key in sorted(expected):
        if key in runtime and runtime[key] != expected[key]:
            drift.append({"key": key, "persisted": expected[key], "runtime": runtime[key]})
    facts["sysctl_drift"] = drift
