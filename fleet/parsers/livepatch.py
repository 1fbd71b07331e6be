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
    ("no longer available for this version of the kernel", UPGRADE_REQUIRED),
    ("module inserted but kernel bug detected", "applied-with-bug"),
    ("caused a crash", "apply-failed"),
    ("are installed, but the module is not yet applied", "unapplied"),
    ("patching the kernel", "applying"),
)
_PLAIN_KERNEL_UNSUPPORTED = re.compile(r"not (?:supported|covered)|no longer (?:supported|covered)")
_PLAIN_KERNEL_ENDED = re.compile(r"(?:support|coverage) (?:has )?ended|please upgrade")
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


def parse_livepatch_canonical(text: str) -> dict[str, object] | None:
    """`canonical-livepatch status` in any format a client has printed.

    Returns `{state, kernel, version, supported, patches: [{name, enabled}]}`; state is the
    client's patch state (`applied`, `nothing-to-apply`, `kernel-upgrade-required`, …),
    `unsupported` for a kernel the service does not cover, `disabled` when the client is
    installed but not enabled.
    """
    if not text.strip():
        return None
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


def parse_kpatch(text: str) -> dict[str, list[dict[str, object]]] | None:
    """`kpatch list`: loaded modules `name [enabled]` and installed ones `name (kernel)`."""
    if not text.strip():
        return None
    loaded: list[dict[str, object]] = []
    installed: list[dict[str, object]] = []
    section = None
    understood = 0
    for line in lines(text):
        stripped = line.strip()
        if stripped.startswith("Loaded patch modules"):
            section, understood = "loaded", understood + 1
            continue
        if stripped.startswith("Installed patch modules"):
            section, understood = "installed", understood + 1
            continue
        loaded_row = re.match(r"^(\S+)\s+\[(\w+)\]$", stripped)
        installed_row = re.match(r"^(\S+)\s+\((\S+)\)$", stripped)
        if loaded_row and section != "installed":
            loaded.append(
                {"name": loaded_row.group(1), "enabled": loaded_row.group(2) == "enabled"}
            )
            understood += 1
        elif installed_row:
            installed.append({"name": installed_row.group(1), "kernel": installed_row.group(2)})
            understood += 1
    if not understood:
        raise ParseError("no 'Loaded patch modules:' section in `kpatch list` output")
    return {"loaded": loaded, "installed": installed}


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
