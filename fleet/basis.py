"""What the product can say about each topic of a host, and what that answer rests on.

The host page, the API and the CSV export read their answers here and never re-derive them, so
a topic the audit could not judge reads "unknown — <why>" everywhere instead of a false "none".
Per topic (`TOPICS`): `known` and the answer, or unknown and why in plain words (systemd not
PID 1, a command that failed and how, a mechanism this distribution does not have). A fact the
last audit could not read and kept from an earlier one (`facts["stale"]`, with
`facts["stale_why"]`) reads "as of the last good audit".

Pure: from a host's stored facts, or the part of them named by `paths(...)` (a page reads only
those out of the database and rebuilds them with `from_paths`). Section outcomes come from
`facts["section_verdicts"]` (parsed / empty / failed / absent) and, in facts stored before it
existed, from `errors` and `sections_missing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet import drift
from fleet.parsers import verdicts

Facts = Mapping[str, Any]
Path = tuple[str, ...]

SERVICES = "services"  # running services that will not come back after a reboot
FAILED_UNITS = "failed_units"
SYSCTL = "sysctl"
MOUNTS = "mounts"
REBOOT = "reboot"
KERNEL_FILES = "kernel_files"
LIVEPATCH = "livepatch"
TOPICS = (SERVICES, FAILED_UNITS, SYSCTL, MOUNTS, REBOOT, KERNEL_FILES, LIVEPATCH)

# The probe sections each topic is read from, and the top-level fact that carries its answer
# (the one `facts["stale"]` names when an audit kept it from an earlier one).
SECTIONS: dict[str, tuple[str, ...]] = {
    SERVICES: drift.FINDING_SECTIONS["service-not-enabled"],
    FAILED_UNITS: ("failed-units",),
    SYSCTL: ("sysctl-persisted", "sysctl-runtime"),
    MOUNTS: ("fstab", "mounts"),
    REBOOT: ("reboot-required", "needrestart", "needs-restarting", "kernels-dpkg", "kernels-rpm"),
    KERNEL_FILES: ("kernels-dpkg", "kernels-rpm", "boot-files", "modules-dirs"),
    LIVEPATCH: ("livepatch-canonical", "kpatch", "ksplice", "sys-livepatch"),
}
FACT_KEY = {
    SERVICES: "systemd",
    FAILED_UNITS: "systemd",
    SYSCTL: "sysctl_drift",
    MOUNTS: "mounts_drift",
    REBOOT: "reboot_required",
    KERNEL_FILES: "installed_kernels",
    LIVEPATCH: "livepatch",
}
# The facts each topic's answer reads, besides its sections' outcomes and its staleness.
_ANSWER_PATHS: dict[str, tuple[Path, ...]] = {
    SERVICES: (("systemd", "state"),),
    FAILED_UNITS: (("systemd", "state"), ("systemd", "failed")),
    SYSCTL: (("systemd", "state"), ("sysctl_drift",)),
    MOUNTS: (("mounts_drift",),),
    REBOOT: (
        ("reboot_required",),
        ("reboot_required_sources",),
        ("reboot_reasons",),
        ("kernel_source",),
        ("installed_kernels",),
    ),
    KERNEL_FILES: (
        ("kernel_source",),
        ("installed_kernels",),
        ("booted_kernel_modules_present",),
        ("newest_kernel_has_initrd",),
    ),
    LIVEPATCH: (("livepatch",),),
}

NOT_PID1 = "systemd is not running as PID 1 (`systemctl is-system-running` says offline)"
SYSCTL_OFFLINE = (
    "sysctl drift is not judged where systemd is not running (a container or chroot, where "
    "nothing may apply sysctl.d at start); the probe cannot tell"
)
FSTAB_EMPTY = (
    "fstab has no entries: not judged (a host may mount through systemd units or its container "
    "runtime, or its fstab was emptied); the probe cannot tell"
)
NOT_AUDITED = "no audit has described this host yet"
AS_OF = "as of the last good audit"


@dataclass(frozen=True)
class Basis:
    """One topic's answer: known, with what it rests on, or unknown and why."""

    known: bool
    answer: str = ""
    why: str = ""  # unknown: why not; stale: why the answer is an earlier audit's
    stale: bool = False
    sources: tuple[str, ...] = ()  # what a known answer rests on, where several sources vote

    @property
    def text(self) -> str:
        if not self.known:
            return f"unknown — {self.why}"
        answer = self.answer
        if self.sources:
            answer = f"{answer} — per {', '.join(self.sources)}"
        if self.stale:
            answer = f"{answer}, {AS_OF}" + (f" ({self.why})" if self.why else "")
        return answer

    def as_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "answer": self.answer if self.known else None,
            "why": self.why,
            "stale": self.stale,
            "sources": list(self.sources),
            "text": self.text,
        }


def unknown(why: str) -> Basis:
    return Basis(known=False, why=why)


# --- reading facts --------------------------------------------------------------------------


def paths(*topics: str) -> list[Path]:
    """The facts paths these topics (all, when none is named) read, for a partial read."""
    chosen = topics or TOPICS
    found: dict[Path, None] = {("stale",): None, ("errors",): None, ("sections_missing",): None}
    for topic in chosen:
        found.update(dict.fromkeys(_ANSWER_PATHS[topic]))
        found[("stale_why", FACT_KEY[topic])] = None
        for section in SECTIONS[topic]:
            found[("section_verdicts", section)] = None
    return list(found)


def from_paths(values: Mapping[Path, Any]) -> dict[str, Any]:
    """Facts rebuilt from {path: value} (as `paths` names them); null values are left out."""
    facts: dict[str, Any] = {}
    for path, value in values.items():
        if value is None:
            continue
        node = facts
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = value
    return facts


def reboot_subset(facts: Facts) -> dict[str, Any]:
    """The part of a facts document the reboot answer reads (`paths(REBOOT)`): kept on the host
    beside the document (`Host.reboot_basis`), so a list of 10,000 hosts reads a few hundred
    bytes per row instead of de-compressing an 11 KB document once per path."""
    values = {}
    for path in paths(REBOOT):
        value: Any = facts
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values[path] = value
    return from_paths(values)


def with_reboot_required(facts: Facts, value: bool | None) -> dict[str, Any]:
    """`facts` answering reboot_required with the host's column (the same value, kept in a
    column for lists), unless they describe nothing yet."""
    return {**facts, "reboot_required": value} if facts else {}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def section(facts: Facts, name: str) -> tuple[str, str]:
    """(verdict, why) of one probe section in the audit that produced these facts."""
    verdict = _dict(_dict(facts.get("section_verdicts")).get(name))
    if isinstance(verdict.get("verdict"), str):
        return verdict["verdict"], str(verdict.get("why") or "")
    # Facts stored before section verdicts: an error names a section that gave no answer.
    for error in _list(facts.get("errors")):
        if isinstance(error, dict) and error.get("section") == name:
            return "failed", str(error.get("message") or "")
    if name in _list(facts.get("sections_missing")):
        return "absent", "not in the probe output"
    return "parsed", ""


def _no_answer(facts: Facts, names: Iterable[str], *, absent_too: bool = True) -> str:
    """Why the first of these sections gave no usable answer, or ""."""
    missing = _list(facts.get("sections_missing"))
    for name in names:
        verdict, why = section(facts, name)
        # A missing tool can be an answer (no rpm: no rpm kernels); a missing section never is.
        if verdict == "failed" or (verdict == "absent" and (absent_too or name in missing)):
            command = f"`{verdicts.command(name)}`"
            if verdict == "failed":
                if why.startswith(command):
                    return why  # the verdict already names the command
                return f"{command} failed: {why or 'no usable answer'}"
            return f"{command}: {why or 'not in the probe output'}"
    return ""


def _stale(facts: Facts, topic: str) -> tuple[bool, str]:
    key = FACT_KEY[topic]
    if key not in _list(facts.get("stale")):
        return False, ""
    why = _dict(facts.get("stale_why")).get(key)
    return True, str(why) if why else _no_answer(facts, SECTIONS[topic])


def _known(facts: Facts, topic: str, answer: str, sources: Iterable[str] = ()) -> Basis:
    stale, why = _stale(facts, topic)
    return Basis(known=True, answer=answer, why=why, stale=stale, sources=tuple(sources))


def _gate(
    facts: Facts, topic: str, names: Iterable[str] | None = None, *, absent_too: bool = True
) -> str:
    """Why the topic cannot be answered from this audit, or "" (kept facts still answer).

    `absent_too=False` where a missing tool is itself an answer (no rpm: no rpm kernels)."""
    if not facts:
        return NOT_AUDITED
    if _stale(facts, topic)[0]:
        return ""
    names = SECTIONS[topic] if names is None else names
    return "; ".join(w for n in names if (w := _no_answer(facts, [n], absent_too=absent_too)))


def _cannot_answer(facts: Facts, topic: str, offline_why: str = "") -> Basis | None:
    """The topic's "unknown" when this audit cannot answer it, else None: systemd offline
    (for topics only a running manager answers), or a section that gave no usable answer."""
    if offline_why and facts and _systemd_offline(facts):
        return unknown(offline_why)
    blocked = _gate(facts, topic)
    return unknown(blocked) if blocked else None


def _systemd_offline(facts: Facts) -> bool:
    return _dict(facts.get("systemd")).get("state") == "offline"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --- topics ---------------------------------------------------------------------------------


def services(facts: Facts, not_coming_back: int | None = None) -> Basis:
    """Running services that will not come back after a reboot (`service-not-enabled`
    findings, counted by the caller: the facts do not hold them)."""
    if cannot := _cannot_answer(facts, SERVICES, NOT_PID1):
        return cannot
    if not_coming_back is None:
        answer = "judged: see the service-not-enabled findings"
    elif not_coming_back == 0:
        answer = "none: every running service is started at boot"
    else:
        answer = _count(
            not_coming_back, "service will not come back", "services will not come back"
        )
    return _known(facts, SERVICES, answer)


def failed_units(facts: Facts) -> Basis:
    if cannot := _cannot_answer(facts, FAILED_UNITS, NOT_PID1):
        return cannot
    failed = _list(_dict(facts.get("systemd")).get("failed"))
    answer = _count(len(failed), "failed unit", "failed units") if failed else "none"
    return _known(facts, FAILED_UNITS, answer)


def sysctl(facts: Facts) -> Basis:
    if cannot := _cannot_answer(facts, SYSCTL, SYSCTL_OFFLINE):
        return cannot
    for error in _list(facts.get("errors")):
        # Parsed, but the drift was not computed (too many glob assignments to apply).
        message = str(_dict(error).get("message") or "")
        if _dict(error).get("section") == "sysctl-persisted" and "not computed" in message:
            return unknown(message)
    drift = _list(facts.get("sysctl_drift"))
    if drift:
        answer = _count(len(drift), "key differs", "keys differ") + " from the persisted value"
    else:
        answer = "running values match the persisted ones"
    return _known(facts, SYSCTL, answer)


def mounts(facts: Facts) -> Basis:
    if cannot := _cannot_answer(facts, MOUNTS):
        return cannot
    if section(facts, "fstab")[0] == "empty" and not _stale(facts, MOUNTS)[0]:
        return unknown(FSTAB_EMPTY)
    drift = _dict(facts.get("mounts_drift"))
    n = len(_list(drift.get("not_mounted"))) + len(_list(drift.get("not_in_fstab")))
    answer = _count(n, "mount differs", "mounts differ") if n else "fstab and mounts agree"
    return _known(facts, MOUNTS, answer)


def reboot(facts: Facts) -> Basis:
    """Whether a reboot is required: yes with the sources that say so, no with the sources it
    rests on, or unknown when no source on the host answered."""
    required = facts.get("reboot_required")
    if required is True:
        reasons = [r for r in _list(facts.get("reboot_reasons")) if isinstance(r, str)]
        return _known(facts, REBOOT, "yes", reasons)
    if required is False:
        sources = [s for s in _list(facts.get("reboot_required_sources")) if isinstance(s, str)]
        return _known(facts, REBOOT, "no", sources)
    return unknown(_gate(facts, REBOOT, absent_too=False) or _no_source_why(facts))


def _no_source_why(facts: Facts) -> str:
    missing = []
    if kernel_source(facts) != "packages":
        missing.append("no kernel packages to compare the running kernel with")
    flag = "/var/run/reboot-required is not this distribution's mechanism"
    # On a Debian-like host too: no package of a kernel the platform supplies writes the flag.
    platform = kernel_source(facts) == "platform"
    missing.append(flag + (", nor a platform kernel's" if platform else ""))
    tools = [n for n in ("needrestart", "needs-restarting") if section(facts, n)[0] == "absent"]
    if tools:
        missing.append(
            " and ".join(tools) + (" is" if len(tools) == 1 else " are") + " not installed"
        )
    return "no source on this distribution says (" + "; ".join(missing) + ")"


def kernel_source(facts: Facts) -> str | None:
    """ "packages", "platform" or None (facts stored before the key: packages when listed)."""
    if "kernel_source" in facts:
        value = facts["kernel_source"]
        return value if value in ("packages", "platform") else None
    return "packages" if _list(facts.get("installed_kernels")) else None


def kernel_files(facts: Facts) -> Basis:
    """Whether the running kernel's modules and the newest kernel's initramfs are in place."""
    source = kernel_source(facts)
    if source == "platform":
        return _known(
            facts,
            KERNEL_FILES,
            "supplied by the platform (hypervisor, container host or OS image): "
            "no kernel files on this host to check",
        )
    if source is None:
        blocked = _gate(facts, KERNEL_FILES, absent_too=False)
        return unknown(
            blocked
            or "no kernel packages are listed, yet /boot or /lib/modules holds kernels: "
            "where the running kernel comes from is not known"
        )
    modules = facts.get("booted_kernel_modules_present")
    initrd = facts.get("newest_kernel_has_initrd")
    if modules is None and initrd is None:
        # Checked in no audit kept: the packages may be an earlier audit's, the checks are not.
        stale, why = _stale(facts, KERNEL_FILES)
        return unknown(
            (why if stale else _gate(facts, KERNEL_FILES, ("boot-files", "modules-dirs")))
            or "neither /boot nor /lib/modules shows the listed kernels"
        )
    parts = []
    if modules is False:
        parts.append("the running kernel's /lib/modules directory is gone")
    elif modules is True:
        parts.append("the running kernel's modules are in place")
    if initrd is False:
        parts.append("/boot has no initramfs for the newest kernel")
    elif initrd is True:
        parts.append("the newest kernel has its initramfs")
    return _known(facts, KERNEL_FILES, "; ".join(parts))


def livepatch(facts: Facts) -> Basis:
    value = _dict(facts.get("livepatch"))
    provider, state = value.get("provider"), value.get("state")
    if provider and state == "unknown":
        # Installed, but its output could not be read: nothing is known of its patches.
        return unknown(
            _gate(facts, LIVEPATCH, absent_too=False) or f"{provider}'s output could not be read"
        )
    if provider:
        return _known(facts, LIVEPATCH, f"{provider}: {state or 'state unknown'}")
    # A missing tool is the answer "not this tool"; only a tool that failed leaves it open.
    blocked = _gate(facts, LIVEPATCH, absent_too=False)
    if blocked:
        return unknown(blocked)
    return _known(facts, LIVEPATCH, "no live-patch tool")


TOPIC_RULES = {
    FAILED_UNITS: failed_units,
    SYSCTL: sysctl,
    MOUNTS: mounts,
    REBOOT: reboot,
    KERNEL_FILES: kernel_files,
    LIVEPATCH: livepatch,
}


def for_host(facts: Facts, *, not_coming_back: int | None = None) -> dict[str, Basis]:
    """Every topic's basis, in `TOPICS` order."""
    facts = facts if isinstance(facts, Mapping) else {}
    found = {SERVICES: services(facts, not_coming_back)}
    found.update((topic, rule(facts)) for topic, rule in TOPIC_RULES.items())
    return {topic: found[topic] for topic in TOPICS}


def as_json(facts: Facts, *, not_coming_back: int | None = None) -> dict[str, dict[str, Any]]:
    return {t: b.as_json() for t, b in for_host(facts, not_coming_back=not_coming_back).items()}
