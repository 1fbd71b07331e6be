"""Findings: what the next boot would change, computed from one host's facts.

The rules the judge (`fleet/judge.py`) applies to a host's facts. `findings_from_facts` computes
every kind of DESIGN.md's table except `host-key-changed` and `host-unreachable`, which the audit
raises from SSH errors. `FINDING_KINDS` gives each kind its severity and whether it holds a
reboot until acknowledged; `FINDING_SECTIONS` names the probe sections a kind depends on, so an
audit closes an open finding only when those sections parsed cleanly (`may_resolve`).

A host reports at most `per_kind` findings of one kind (FINDINGS_PER_KIND_MAX): the first ones
by subject, then one summary finding of the same kind and severity whose subject is
`SUMMARY_SUBJECT` and whose detail says "… and N more". One push listing 50,000 services makes
a few hundred findings at most, never 50,000.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .parsers import verdicts
from .probe_script import SECTIONS
from .versions import compare_kernels

Facts = dict[str, Any]
Finding = dict[str, str]

HIGH, MEDIUM, LOW, INFO = "high", "medium", "low", "info"
FINDINGS_PER_KIND = 50
SUMMARY_SUBJECT = "…"  # the subject of a kind's "… and N more" finding

FINDING_KINDS: dict[str, tuple[str, bool]] = {
    "service-not-enabled": (HIGH, True),
    "fstab-not-mounted": (HIGH, True),
    "boot-space-low": (HIGH, True),
    "initrd-missing": (HIGH, True),
    "default-kernel-mismatch": (HIGH, True),
    "host-key-changed": (HIGH, True),
    "unit-masked-or-runtime": (HIGH, True),
    "unit-failed": (MEDIUM, False),
    "running-kernel-missing": (MEDIUM, False),
    "livepatch-needs-reboot": (MEDIUM, False),
    "kernel-pending": (MEDIUM, False),
    "reboot-required": (MEDIUM, False),
    "uptime-over-policy": (MEDIUM, False),
    "mount-not-in-fstab": (LOW, False),
    "sysctl-drift": (LOW, False),
    "livepatched": (INFO, False),
    "needrestart-services": (INFO, False),
    "host-unreachable": (MEDIUM, False),
}

_KERNEL_SECTIONS = ("uname-r", "kernels-dpkg", "kernels-rpm")
_LIVEPATCH_SECTIONS = ("livepatch-canonical", "kpatch", "ksplice", "sys-livepatch")

FINDING_SECTIONS: dict[str, tuple[str, ...]] = {
    "service-not-enabled": ("units", "unit-files", "socket-units", "timer-units"),
    "fstab-not-mounted": ("fstab", "mounts"),
    "boot-space-low": ("boot-df",),
    "initrd-missing": ("boot-files", "kernels-dpkg", "kernels-rpm"),
    "default-kernel-mismatch": (
        "kernels-dpkg",
        "kernels-rpm",
        "default-kernel",
        "grub-default",
        "vmlinuz-link",
    ),
    "unit-failed": ("failed-units",),
    "running-kernel-missing": ("uname-r", "modules-dirs", "kernels-dpkg", "kernels-rpm"),
    "livepatch-needs-reboot": _LIVEPATCH_SECTIONS,
    "kernel-pending": _KERNEL_SECTIONS,
    "reboot-required": (
        "reboot-required",
        "reboot-required-pkgs",
        "needrestart",
        "needs-restarting",
    ),
    "uptime-over-policy": ("uptime",),
    "mount-not-in-fstab": ("fstab", "mounts"),
    "sysctl-drift": ("sysctl-persisted", "sysctl-runtime"),
    "unit-masked-or-runtime": ("units", "unit-files"),
    "livepatched": _LIVEPATCH_SECTIONS,
    "needrestart-services": ("needrestart",),
}

# The kinds that say "running now, will not come back after a reboot": one list for the host
# page's "Services that will not come back", the API's count, and verification's expectations.
NOT_STARTED_AT_BOOT_KINDS = ("service-not-enabled", "unit-masked-or-runtime")

# Unit-file states that bring the unit up at every boot, or where boot-time starting is not
# ours to judge: static units are pulled in by others, indirect ones via Also=, generated ones
# come from generators at every boot. Not "transient" (systemd-run: its unit file lives in
# /run/systemd/transient and is gone after a reboot) nor "enabled-runtime" (its link is under
# /run). Verification (reboots/verification.py) reads this same set.
STARTED_AT_BOOT = frozenset({"enabled", "static", "indirect", "generated", "alias"})
# Enablement, link or mask made with --runtime: under /run, which every boot starts empty.
RUNTIME_ONLY = frozenset({"enabled-runtime", "linked-runtime", "masked-runtime"})
TRANSIENT = "transient"
# A service running now in one of these states does not exist, or is not started, after a
# reboot: verification expects it gone. ("enabled-runtime" also shows for a link a generator
# makes under /run at every boot; such a service comes back, and that is fine too.)
GONE_AFTER_REBOOT = frozenset({TRANSIENT}) | (RUNTIME_ONLY - {"masked-runtime"})
# Templates whose instances a generator starts at boot although the template is disabled
# (systemd-getty-generator starts serial-getty@<console>.service on every boot).
GENERATOR_TEMPLATES = frozenset({"serial-getty@.service", "container-getty@.service"})


def _finding(kind: str, subject: str, detail: str) -> Finding:
    return {"kind": kind, "subject": subject, "severity": FINDING_KINDS[kind][0], "detail": detail}


def _template(unit: str) -> str | None:
    """`getty@tty1.service` → `getty@.service`."""
    if "@" not in unit:
        return None
    prefix, _, rest = unit.partition("@")
    suffix = rest.rsplit(".", 1)[-1]
    return f"{prefix}@.{suffix}"


def _activated_by_others(facts: Facts) -> set[str]:
    services = set()
    for key in ("socket_activated", "timer_activated"):
        services.update(facts.get(key) or [])
    return services


# Why a running service in a runtime-only, masked or linked state is not back after a reboot.
_NOT_BACK = {
    "enabled-runtime": "it is enabled only at runtime (its link is under /run, which a reboot "
    "empties): it will not come back after a reboot, unless a generator makes that link at "
    "every boot. Enable it for good (systemctl enable {name}) or acknowledge this.",
    "linked-runtime": "its unit file is linked only under /run: after a reboot the unit will not "
    "exist and will not come back. Install the unit file for good, or acknowledge this.",
    "masked-runtime": "it is masked only until the next reboot, and the mask hides whether "
    "anything enables it: it may not come back after a reboot. Check it, or acknowledge this.",
    "masked": "it is masked: a reboot stops it and nothing can start it again, so it will not "
    "come back. Unmask and enable it (systemctl unmask {name}), or stop it.",
    "linked": "its unit file is only linked, not enabled: it will not come back after a reboot. "
    "Enable it (systemctl enable {name}) or stop it.",
}


def _service_findings(facts: Facts) -> list[Finding]:
    systemd = facts.get("systemd") or {}
    services = systemd.get("services") or {}
    activated = _activated_by_others(facts)
    found = []
    for name in sorted(services):
        service = services[name]
        if service.get("sub") != "running":
            continue
        state = service.get("unit_file")
        template = _template(name)
        if state is None and template:
            state = (facts.get("unit_file_states") or {}).get(template)
            if template in GENERATOR_TEMPLATES:
                continue
        if state == TRANSIENT:
            # Its triggers (a systemd-run timer, path or socket) are transient too.
            found.append(
                _finding(
                    "service-not-enabled",
                    name,
                    f"{name} is running now but it is transient (systemd-run): it will not "
                    "exist after a reboot. Write a unit file and enable it if it must survive "
                    "reboots; else stop it, or acknowledge this.",
                )
            )
            continue
        if state in _NOT_BACK:
            why = _NOT_BACK[state].format(name=name)
            found.append(
                _finding(
                    "unit-masked-or-runtime",
                    name,
                    f"{name} is running but its unit file is {state}: {why}",
                )
            )
            continue
        if state in STARTED_AT_BOOT or name in activated:
            continue
        why = "its unit file is disabled" if state == "disabled" else "no unit file enables it"
        found.append(
            _finding(
                "service-not-enabled",
                name,
                f"{name} is running now but {why}, and no socket or timer starts it: "
                f"after a reboot it will not be running. Enable it (systemctl enable {name}) "
                "or stop it.",
            )
        )
    return found


def _kernel_findings(facts: Facts, boot_space_min_mb: int) -> list[Finding]:
    found = []
    booted = facts.get("booted_kernel")
    newest = facts.get("newest_installed_kernel")
    default = facts.get("default_boot_kernel")
    family = facts.get("package_family")
    if booted and newest and compare_kernels(newest, booted, family) > 0:
        found.append(
            _finding(
                "kernel-pending",
                newest,
                f"Kernel {newest} is installed but {booted} is running: "
                "a reboot is needed to run it.",
            )
        )
    if default and newest and not facts.get("default_boot_kernel_inferred") and default != newest:
        found.append(
            _finding(
                "default-kernel-mismatch",
                default,
                f"The next boot would start {default}, not the newest installed kernel {newest}. "
                "Check the boot loader default (grubby --set-default / grub-set-default).",
            )
        )
    if facts.get("newest_kernel_has_initrd") is False and newest:
        found.append(
            _finding(
                "initrd-missing",
                newest,
                f"/boot has no initramfs for the newest kernel {newest}: booting it would likely "
                "fail. Regenerate it (dracut -f / update-initramfs -u -k <release>).",
            )
        )
    if facts.get("booted_kernel_modules_present") is False and booted:
        found.append(
            _finding(
                "running-kernel-missing",
                booted,
                f"The running kernel {booted} has no /lib/modules directory any more (its package "
                "was removed): modules cannot be loaded until a reboot.",
            )
        )
    free = facts.get("boot_free_mb")
    # Only package-managed kernels land in /boot one per update; image-based hosts (Flatcar)
    # swap a fixed A/B pair and containers have no /boot of their own.
    if isinstance(free, int | float) and free < boot_space_min_mb and family is not None:
        found.append(
            _finding(
                "boot-space-low",
                "/boot",
                f"Only {free} MB free on /boot (minimum {boot_space_min_mb} MB): the next kernel "
                "update may fail to write its initramfs. Remove old kernels.",
            )
        )
    return found


def _reboot_findings(facts: Facts, max_uptime_days: int) -> list[Finding]:
    found = []
    reasons = [
        r for r in facts.get("reboot_reasons") or [] if r not in ("kernel-update", "livepatch")
    ]
    if facts.get("reboot_required") is True and reasons:
        found.append(
            _finding(
                "reboot-required",
                "host",
                "A reboot is requested by: " + ", ".join(reasons) + ".",
            )
        )
    uptime = facts.get("uptime_seconds")
    if isinstance(uptime, int | float) and uptime > max_uptime_days * 86400:
        days = int(uptime // 86400)
        found.append(
            _finding(
                "uptime-over-policy",
                "uptime",
                f"Up for {days} days, past the policy of {max_uptime_days} days without a reboot.",
            )
        )
    livepatch = facts.get("livepatch") or {}
    provider = livepatch.get("provider")
    if livepatch.get("state") == "kernel-upgrade-required":
        found.append(
            _finding(
                "livepatch-needs-reboot",
                provider or "livepatch",
                f"{provider} can no longer patch the running kernel: "
                "upgrade the kernel and reboot.",
            )
        )
    patches = [p for p in livepatch.get("patches") or [] if p.get("enabled")]
    if provider and livepatch.get("state") == "applied" and patches:
        found.append(
            _finding(
                "livepatched",
                provider,
                f"{len(patches)} live patch(es) from {provider} are in force: the running code "
                "differs from the booted kernel; a reboot into an updated kernel makes it real.",
            )
        )
    services = (facts.get("needrestart") or {}).get("services") or []
    if services:
        found.append(
            _finding(
                "needrestart-services",
                "needrestart",
                f"needrestart lists {len(services)} service(s) to restart (no reboot needed): "
                + ", ".join(services[:10])
                + (" …" if len(services) > 10 else ""),
            )
        )
    return found


def _mount_findings(facts: Facts) -> list[Finding]:
    drift = facts.get("mounts_drift") or {}
    found = [
        _finding(
            "fstab-not-mounted",
            mount_point,
            f"{mount_point} is in /etc/fstab but not mounted: the boot may hang waiting for it "
            "(mount it, or mark it nofail / noauto).",
        )
        for mount_point in drift.get("not_mounted") or []
    ]
    found += [
        _finding(
            "mount-not-in-fstab",
            mount_point,
            f"{mount_point} is mounted but not in /etc/fstab: it will be gone after a reboot.",
        )
        for mount_point in drift.get("not_in_fstab") or []
    ]
    return found


def _sysctl_findings(facts: Facts) -> list[Finding]:
    return [
        _finding(
            "sysctl-drift",
            item["key"],
            f"{item['key']} is {item['runtime']!r} now but {item['persisted']!r} after a reboot.",
        )
        for item in facts.get("sysctl_drift") or []
    ]


def _failed_unit_findings(facts: Facts) -> list[Finding]:
    failed = (facts.get("systemd") or {}).get("failed") or []
    return [
        _finding("unit-failed", unit, f"{unit} has failed (systemctl status {unit}).")
        for unit in failed
    ]


def findings_from_facts(
    facts: Facts,
    *,
    max_uptime_days: int,
    boot_space_min_mb: int,
    per_kind: int = FINDINGS_PER_KIND,
) -> list[Finding]:
    """The drift findings the facts imply, sorted by severity, kind and subject, at most
    `per_kind` of a kind plus its summary.

    Kinds that depend on a section that failed or was cut at its size cap are left out: a
    unit-file list that `systemctl` could not print, or one cut short, would report every
    running service as "not enabled".
    """
    findings = (
        _service_findings(facts)
        + _failed_unit_findings(facts)
        + _kernel_findings(facts, boot_space_min_mb)
        + _reboot_findings(facts, max_uptime_days)
        + _mount_findings(facts)
        + _sysctl_findings(facts)
    )
    unusable = unusable_sections(facts)
    if unusable:
        findings = [f for f in findings if not unusable & set(FINDING_SECTIONS.get(f["kind"], ()))]
    order = {HIGH: 0, MEDIUM: 1, LOW: 2, INFO: 3}
    ordered = sorted(findings, key=lambda f: (order[f["severity"]], f["kind"], f["subject"]))
    return cap_findings(ordered, per_kind)


def unusable_sections(facts: Facts) -> set[str]:
    """Sections whose answer this output does not give: failed (`section_verdicts`) or cut.

    Absent is not failed: `kernels-rpm` is absent on every Debian host, and says nothing.
    """
    return set(verdicts.failed_in(facts)) | set(facts.get("sections_cut") or ())


def summary_finding(kind: str, hidden: int, per_kind: int, severity: str = "") -> Finding:
    """The one finding that stands for the `hidden` findings of a kind past the cap (with
    their severity, which for a known kind is the kind's)."""
    return {
        "kind": kind,
        "subject": SUMMARY_SUBJECT,
        "severity": FINDING_KINDS[kind][0] if kind in FINDING_KINDS else severity or MEDIUM,
        "detail": (
            f"… and {hidden:,} more {kind} finding(s) on this host, not listed one by one: "
            f"only the first {per_kind} are (FINDINGS_PER_KIND_MAX). Fix the host or its probe "
            "output; this finding resolves when the count is back under the cap."
        ),
    }


def cap_findings(findings: list[Finding], per_kind: int) -> list[Finding]:
    """Keep the first `per_kind` findings of each kind (in the given order) and replace the
    rest of that kind by one summary finding, placed after the kept ones."""
    per_kind = max(per_kind, 1)
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
    if all(n <= per_kind for n in counts.values()):
        return findings
    kept: list[Finding] = []
    seen: dict[str, int] = {}
    for finding in findings:
        kind = finding["kind"]
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= per_kind:
            kept.append(finding)
        if seen[kind] == counts[kind] and counts[kind] > per_kind:
            kept.append(summary_finding(kind, counts[kind] - per_kind, per_kind))
    return kept


def needs_reboot(facts: Facts, max_uptime_days: int) -> bool:
    """DESIGN: a host needs a reboot when reboot_required is true or it is past the uptime
    policy. needrestart already counts only through its kernel status (KSTA 2/3)."""
    if facts.get("reboot_required") is True:
        return True
    uptime = facts.get("uptime_seconds")
    return isinstance(uptime, int | float) and uptime > max_uptime_days * 86400


def may_resolve(kind: str, sections_ok: Iterable[str]) -> bool:
    """Whether an audit whose whole, clean sections are `sections_ok` may close an open finding
    of `kind` it no longer shows: every section the kind depends on is among them (a cut,
    missing or failed section says nothing). A kind this version does not know (a newer
    probe's) needs every section of the probe."""
    return set(FINDING_SECTIONS.get(kind) or SECTIONS) <= set(sections_ok)


def resolvable_kinds(sections_ok: Iterable[str]) -> set[str]:
    """Kinds whose open findings an audit may close: all their sections parsed cleanly."""
    clean = set(sections_ok)
    return {kind for kind in FINDING_SECTIONS if may_resolve(kind, clean)}
