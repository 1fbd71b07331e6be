"""Live patching: Canonical Livepatch (JSON, YAML, two plain-text eras), kpatch, Ksplice and
the kernel's own /sys/kernel/livepatch."""

from __future__ import annotations

import json
import re

import yaml

from .base import ParseError, lines

# Canonical states kept as the client spells them; these are the ones that matter downstream.
UPGRADE_REQUIRED = "kernel-upgrade-required"
_SUPPORT_NEEDS_UPGRADE = frozenset({"kernel-upgrade-required", "kernel-end-of-life", "ended"})

# Plain-text `patch state:` / `kernel state:` sentences → state (client 9.x and later).
_PLAIN_PATCH_STATES = (
    ("all applicable livepatch modules inserted", "applied"),
    ("all applicable livepatch kernel modules applied", "applied"),
    ("no livepatches needed", "nothing-to-apply"),
    ("no livepatches available for kernel", "nothing-to-apply"),  # clients of 2025 on
    ("no longer available for this version of the kernel", UPGRADE_REQUIRED),
    ("module inserted but kernel bug detected", "applied-with-bug"),
    ("caused a crash", "apply-failed"),
    ("are installed, but the module is not yet applied", "unapplied"),
    ("patching the kernel", "applying"),
)
_PLAIN_KERNEL_UNSUPPORTED = re.compile(r"not (?:supported|covered)")
# "No longer supported/covered" is the plain form of JSON's `kernel-end-of-life`.
_PLAIN_KERNEL_ENDED = re.compile(
    r"(?:support|coverage) (?:has )?ended|please upgrade|no longer (?:supported|covered)"
)
# The client's one-line refusal (any command, exit 1) on a kernel the service does not build
# patches for: `2018/05/24 18:51:29 cannot use livepatch: your kernel "4.15.0-1010-kvm" is
# not eligible for livepatch updates`.
_NOT_ELIGIBLE = re.compile(
    r"kernel \"?(?P<kernel>[^\"\s]*)\"? is not eligible for livepatch updates"
)
_CVE_LINE = re.compile(r"^\s*\*\s*(?P<name>\S+?):?(?:\s|$)")
# libyaml when present: the pure-Python loader costs ~50x more CPU per byte of hostile input.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(value: object) -> str | None:
    """A plain value as text; a list or mapping (or a YAML alias to one) is not a name.

    Only scalars are ever turned into text: `str()` of an aliased structure (a YAML alias
    bomb) would expand it exponentially.
    """
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _fixes_from_text(value: str) -> list[dict[str, object]]:
    """YAML `fixes: |-` blocks and old JSON strings list one `* CVE-…` per line."""
    patches = []
    for line in value.splitlines():
        match = _CVE_LINE.match(line)
        if match:
            patches.append({"name": match.group("name"), "enabled": True})
    return patches


def _fixes(value: object) -> list[dict[str, object]]:
    if isinstance(value, str):
        return _fixes_from_text(value)
    if isinstance(value, list):
        patches: list[dict[str, object]] = []
        for fix in value:
            if isinstance(fix, dict) and _scalar(fix.get("Name")):
                patches.append(
                    {"name": _scalar(fix["Name"]), "enabled": bool(fix.get("Patched", True))}
                )
            elif isinstance(fix, str):
                patches.append({"name": fix, "enabled": True})
        return patches
    return []


def _ci(mapping: dict, *names: str) -> object:
    """Case-insensitive lookup: JSON says `Kernel`, YAML says `kernel`."""
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _from_structured(document: dict) -> dict[str, object]:
    statuses = _ci(document, "status")
    if not isinstance(statuses, list) or not statuses:
        raise ParseError("livepatch status has no `status` list")
    entries = [s for s in statuses if isinstance(s, dict)]
    if not entries:
        raise ParseError("livepatch `status` entries are not mappings")
    running = next((s for s in entries if _ci(s, "running") is True), entries[0])
    patch = _ci(running, "livepatch")
    patch = patch if isinstance(patch, dict) else {}
    state = _scalar(_ci(patch, "patchState", "state")) or "unknown"
    supported = _scalar(_ci(running, "supported"))
    if state == UPGRADE_REQUIRED or supported in _SUPPORT_NEEDS_UPGRADE:
        state = UPGRADE_REQUIRED
    elif supported == "unsupported":
        state = "unsupported"
    return {
        "state": state,
        "kernel": _scalar(_ci(running, "kernel")),
        "version": _scalar(_ci(patch, "version")) or None,
        "supported": supported,
        "patches": _fixes(_ci(patch, "fixes")),
    }


def _from_plain(text: str) -> dict[str, object] | None:
    fields: dict[str, str] = {}
    for line in lines(text):
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    if "patch state" in fields or "kernel state" in fields:
        patch_state = fields.get("patch state", "")
        state = next((s for phrase, s in _PLAIN_PATCH_STATES if phrase in patch_state), "unknown")
        kernel_state = fields.get("kernel state", "")
        if _PLAIN_KERNEL_ENDED.search(kernel_state):
            state = UPGRADE_REQUIRED
        elif _PLAIN_KERNEL_UNSUPPORTED.search(kernel_state):
            state = "unsupported"
        return {
            "state": state,
            "kernel": fields.get("kernel"),
            "version": fields.get("patch version") or None,
            "supported": None,
            "patches": [],
        }
    if "fully-patched" in fields:
        # Clients before 8.x: `kernel:`, `fully-patched:`, `version:` only.
        version = fields.get("version", "").strip("\"'")
        fully = fields["fully-patched"].lower() == "true"
        state = ("applied" if version else "nothing-to-apply") if fully else "unapplied"
        return {
            "state": state,
            "kernel": fields.get("kernel"),
            "version": version or None,
            "supported": None,
            "patches": [],
        }
    return None


def _not_eligible(text: str) -> dict[str, object] | None:
    """The refusal is short: look for it only in short outputs, never inside a JSON status."""
    if len(text) > 1000:
        return None
    match = _NOT_ELIGIBLE.search(text)
    if match is None:
        return None
    return {
        "state": "unsupported",
        "kernel": match.group("kernel") or None,
        "version": None,
        "supported": "unsupported",
        "patches": [],
    }


def parse_livepatch_canonical(text: str) -> dict[str, object] | None:
    """`canonical-livepatch status` in any format a client has printed.

    Returns `{state, kernel, version, supported, patches: [{name, enabled}]}`; state is the
    client's patch state (`applied`, `nothing-to-apply`, `kernel-upgrade-required`, …),
    `unsupported` for a kernel the service does not cover (or that is "not eligible for
    livepatch updates"), `disabled` when the client is installed but not enabled.
    """
    if not text.strip():
        return None
    refusal = _not_eligible(text)
    if refusal is not None:
        return refusal
    if "Machine is not enabled" in text or "not enabled" in text.splitlines()[0]:
        return {
            "state": "disabled",
            "kernel": None,
            "version": None,
            "supported": None,
            "patches": [],
        }
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ParseError(f"livepatch JSON is invalid: {exc.msg} at line {exc.lineno}") from exc
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, deep nesting
            raise ParseError(f"livepatch JSON is not plausible: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise ParseError("livepatch JSON is not an object")
        return _from_structured(document)
    plain = _from_plain(text)
    if plain is not None:
        return plain
    try:
        document = yaml.load(stripped, Loader=_YAML_LOADER)  # a safe loader, C or Python
    except yaml.YAMLError as exc:
        raise ParseError(
            f"livepatch output is neither JSON, YAML nor the plain format: {str(exc)[:200]}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"livepatch YAML is not plausible: {type(exc).__name__}") from exc
    if isinstance(document, dict) and _ci(document, "status") is not None:
        return _from_structured(document)
    raise ParseError(
        "livepatch output has no status (not JSON, YAML or plain text of a known client)"
    )


# `kpatch list` section headers across releases: "Loaded patches:" and two "installed" lists
# until mid-2014, then "Loaded patch modules:" / "Installed patch modules:", and, since 0.5
# (2017) and 0.9.11 (2024), "Stalled processes:" and "Currently livepatched functions:".
_KPATCH_SECTIONS = (
    ("Loaded patch", "loaded"),
    ("Installed patch", "installed"),
    ("System installed patches", "installed"),
    ("User installed patches", "installed"),
    ("Stalled processes", "other"),
    ("Currently livepatched functions", "other"),
)
# Since 0.5 a loaded module carries its state: enabled, disabled, enabling..., disabling...
_KPATCH_LOADED = re.compile(r"^(?P<name>\S+)\s+\[(?P<state>[a-z]+)(?P<moving>\.\.\.)?\]$")
_KPATCH_INSTALLED = re.compile(r"^(?P<name>\S+)\s+\((?P<kernel>\S+)\)$")
# Before 0.5 a loaded module was its bare name, and only enabled ones were listed; the first
# releases listed installed modules as bare `.ko` file names too.
_KPATCH_BARE = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _kpatch_section(line: str) -> str | None:
    if not line.endswith(":"):
        return None
    return next((kind for prefix, kind in _KPATCH_SECTIONS if line.startswith(prefix)), None)


def _kpatch_loaded(line: str) -> dict[str, object] | None:
    tagged = _KPATCH_LOADED.match(line)
    if tagged:
        state = tagged.group("state")
        return {
            "name": tagged.group("name"),
            "enabled": state in ("enabled", "enabling"),
            "transition": bool(tagged.group("moving")),
        }
    if _KPATCH_BARE.match(line):
        return {"name": line, "enabled": True, "transition": False}
    return None


def _kpatch_installed(line: str) -> dict[str, object] | None:
    row = _KPATCH_INSTALLED.match(line)
    if row:
        return {"name": row.group("name"), "kernel": row.group("kernel")}
    if _KPATCH_BARE.match(line):
        return {"name": line, "kernel": None}
    return None


def parse_kpatch(text: str) -> dict[str, list[dict[str, object]]] | None:
    """`kpatch list` of any release: loaded modules (`name [state]`, or a bare name before
    0.5) and installed ones (`name (kernel)`); stalled tasks and patched functions skipped.

    Loaded: `{name, enabled, transition}`; installed: `{name, kernel}`.
    """
    if not text.strip():
        return None
    loaded: list[dict[str, object]] = []
    installed: list[dict[str, object]] = []
    section = None
    understood = 0
    for line in lines(text):
        stripped = line.strip()
        header = _kpatch_section(stripped)
        if header:
            section, understood = header, understood + 1
            continue
        row = _kpatch_row(section, stripped)
        if row is None:
            continue
        (loaded if "enabled" in row else installed).append(row)
        understood += 1
    if not understood:
        raise ParseError("no 'Loaded patch modules:' section in `kpatch list` output")
    return {"loaded": loaded, "installed": installed}


def _kpatch_row(section: str | None, line: str) -> dict[str, object] | None:
    """A bare name counts only under its header; tagged rows also before any header."""
    if section == "loaded":
        return _kpatch_loaded(line)
    if section == "installed":
        return _kpatch_installed(line)
    if section is None:
        if _KPATCH_LOADED.match(line):
            return _kpatch_loaded(line)
        if _KPATCH_INSTALLED.match(line):
            return _kpatch_installed(line)
    return None


_KSPLICE_UPDATE = re.compile(r"^\[(?P<id>[a-z0-9]{8})\]\s+(?P<description>.*)$")
_KSPLICE_EFFECTIVE = re.compile(r"^Effective kernel version is (?P<version>\S+)")


def parse_ksplice(text: str) -> dict[str, object] | None:
    """`uptrack-uname -r; uptrack-show`: effective release, installed updates, effective version."""
    if not text.strip():
        return None
    result: dict[str, object] = {
        "effective_release": None,
        "effective_version": None,
        "updates": [],
    }
    updates: list[dict[str, str]] = []
    understood = 0
    for line in lines(text):
        stripped = line.strip()
        update = _KSPLICE_UPDATE.match(stripped)
        effective = _KSPLICE_EFFECTIVE.match(stripped)
        if update:
            updates.append({"id": update.group("id"), "description": update.group("description")})
            understood += 1
        elif effective:
            result["effective_version"] = effective.group("version")
            understood += 1
        elif stripped in ("Installed updates:", "None"):
            understood += 1
        elif re.fullmatch(r"\d[0-9A-Za-z._+-]*", stripped) and result["effective_release"] is None:
            result["effective_release"] = stripped  # the uptrack-uname -r line
            understood += 1
    if not understood:
        raise ParseError("no Ksplice updates list or effective version in the output")
    result["updates"] = updates
    return result


_SYS_LIVEPATCH = re.compile(
    r"^(?P<name>\S+)\s+enabled=(?P<enabled>[01]?)\s+transition=(?P<transition>[01]?)$"
)


def parse_sys_livepatch(text: str) -> list[dict[str, object]]:
    """The probe's `<name> enabled=<0/1> transition=<0/1>` lines for /sys/kernel/livepatch/*."""
    patches = []
    for line in lines(text):
        match = _SYS_LIVEPATCH.match(line.strip())
        if not match:
            raise ParseError(f"unexpected /sys/kernel/livepatch line: {line.strip()[:80]!r}")
        patches.append(
            {
                "name": match.group("name"),
                "enabled": match.group("enabled") == "1",
                "transition": match.group("transition") == "1",
            }
        )
    return patches
