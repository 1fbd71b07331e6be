"""Live-patch clients as they answer on a host: Canonical Livepatch, kpatch, Ksplice Uptrack."""

from __future__ import annotations

import json
import time

from lab.distros import Distro
from lab.hoststate import HostState

Output = tuple[str, int]
NOT_FOUND = ("", 127)


def _ubuntu_kernel_label(state: HostState, distro: Distro) -> str:
    """Livepatch's kernel name: 5.15.0-91-generic → 5.15.0-91.101-generic (abi.upload-flavour)."""
    pkg = next(k.package_version for k in distro.kernels if k.release == state.booted_kernel)
    return f"{pkg}-{state.booted_kernel.rsplit('-', 1)[1]}"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def livepatch_state(state: HostState) -> str:
    lp = state.livepatch
    if lp.patches:
        return "applied"
    return "nothing-to-apply"


def canonical_status_json(state: HostState, distro: Distro, now: float) -> Output:
    lp = state.livepatch
    if lp.provider != "canonical-livepatch" or not lp.installed:
        return NOT_FOUND
    fixes = [{"Bug": "", "Description": "", "Name": n, "Patched": True} for n in lp.patches]
    doc = {
        "Architecture": "amd64",
        "Boot-Time": _iso(state.booted_at),
        "CPU-Model": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
        "Client-Version": "10.8.3",
        "Cloud-Enabled": {
            "az": f"us-east-1{state.zone}",
            "cloud": "aws",
            "cloud-enabled": True,
            "region": "us-east-1",
        },
        "Machine-Id": state.machine_id,
        "Status": [
            {
                "Kernel": _ubuntu_kernel_label(state, distro),
                "Livepatch": {
                    "CheckState": "checked",
                    "Fixes": fixes or None,
                    "State": livepatch_state(state),
                    "Version": lp.patch_version,
                },
                "Running": True,
                "Supported": "supported",
                "UpgradeRequiredDate": time.strftime("%Y-%m-%d", time.gmtime(now + 90 * 86400)),
            }
        ],
        "tier": "updates",
    }
    return json.dumps(doc, indent=4, sort_keys=True) + "\n", 0


def kpatch_list(state: HostState) -> Output:
    lp = state.livepatch
    if lp.provider != "kpatch" or not lp.installed:
        return NOT_FOUND
    loaded = "".join(f"{m} [enabled]\n" for m in lp.patches)
    installed = "".join(f"{m} ({k})\n" for m, k in lp.installed_modules)
    return f"Loaded patch modules:\n{loaded}\nInstalled patch modules:\n{installed}", 0


def ksplice_effective(state: HostState, distro: Distro) -> str:
    """The effective kernel: a later point release once updates are applied."""
    releases = [k.release for k in distro.kernels]
    if not state.livepatch.patches or state.booted_kernel not in releases:
        return state.booted_kernel
    i = releases.index(state.booted_kernel)
    if i + 1 < len(releases):
        return releases[i + 1]
    base, arch = state.booted_kernel.rsplit(".el", 1)
    return f"{base}.{state.livepatch.patch_version}.el{arch}"


def ksplice(state: HostState, distro: Distro) -> Output:
    lp = state.livepatch
    if lp.provider != "ksplice" or not lp.installed:
        return NOT_FOUND
    effective = ksplice_effective(state, distro)
    titles = [
        "CVE-2024-26921: Information leak in IPv4 fragmentation.",
        "CVE-2024-36971: Use-after-free in network route management.",
        "CVE-2024-27397: Use-after-free in Netfilter nf_tables.",
        "Known exploit detection for CVE-2024-1086.",
        "CVE-2024-35950: Denial-of-service in DRM client modesetting.",
        "CVE-2024-26925: Deadlock in Netfilter nf_tables garbage collection.",
        "CVE-2024-36016: Out-of-bounds memory access in n_gsm tty driver.",
    ]
    updates = "".join(f"[{pid}] {titles[i % len(titles)]}\n" for i, pid in enumerate(lp.patches))
    shown = "Installed updates:\n" + (updates or "None\n")
    out = f"{effective}\n{shown}\nEffective kernel version is {effective.removesuffix('.x86_64')}\n"
    return out, 0


def sys_livepatch(state: HostState, distro: Distro) -> Output:
    """The probe's own loop over /sys/kernel/livepatch (Ksplice does not use it)."""
    lp = state.livepatch
    if not lp.patches or lp.provider == "ksplice":
        return "", 0
    if lp.provider == "canonical-livepatch":
        label = _ubuntu_kernel_label(state, distro).replace(".", "_").replace("-", "_")
        names = [f"lkp_Ubuntu_{label}_{lp.patch_version.split('.')[0]}"]
    else:
        names = list(lp.patches)
    return "".join(f"{n} enabled=1 transition=0\n" for n in names), 0
