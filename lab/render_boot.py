"""Kernel packages, boot loader defaults and reboot-needed signals, as each distro prints them."""

from __future__ import annotations

from lab.distros import Distro, rpm_packages
from lab.hoststate import HostState

Output = tuple[str, int]
NOT_FOUND = ("", 127)


def _kernel(distro: Distro, release: str):
    for k in distro.kernels + distro.extra_kernels:
        if k.release == release:
            return k
    raise KeyError(release)


def dpkg_kernels(state: HostState, distro: Distro) -> Output:
    if not distro.has("dpkg"):
        return NOT_FOUND
    rows: list[tuple[str, str, str]] = []
    for release in state.installed_kernels:
        rows.append((f"linux-image-{release}", _kernel(distro, release).package_version, "ii "))
    for release in state.removed_kernels:
        rows.append((f"linux-image-{release}", _kernel(distro, release).package_version, "rc "))
    newest = _kernel(distro, state.newest_kernel)
    if distro.key.startswith("ubuntu"):
        base, rest = newest.package_version.split("-", 1)
        abi, upload = rest.split(".", 1)
        rows.append(("linux-image-generic", f"{base}.{abi}.{upload}", "ii "))
        rows.append(("linux-image-virtual", f"{base}.{abi}.{upload}", "ii "))
    else:
        rows.append(("linux-image-cloud-amd64", newest.package_version, "ii "))
    rows.sort(key=lambda r: r[0].encode())
    return "".join(f"{p} {v} {s}\n" for p, v, s in rows), 0


RPM_QUERY = ["kernel", "kernel-core", "kernel-uek", "kernel-default"]


def rpm_kernels(state: HostState, distro: Distro) -> Output:
    if not distro.has("rpm"):
        return NOT_FOUND
    installed: dict[str, list[str]] = {q: [] for q in RPM_QUERY}
    for release in state.installed_kernels:
        for query, nvra in rpm_packages(distro, _kernel(distro, release)):
            installed[query].append(nvra)
    lines, missing = [], 0
    for query in RPM_QUERY:
        if installed[query]:
            lines += installed[query]
        else:
            lines.append(f"package {query} is not installed")
            missing += 1
    return "".join(line + "\n" for line in lines), missing


def grubby_default(state: HostState, distro: Distro) -> Output:
    if not distro.has("grubby"):
        return NOT_FOUND
    return f"/boot/vmlinuz-{state.default_kernel}\n", 0


def grub_default(state: HostState, distro: Distro) -> Output:
    if distro.is_debian:
        return "GRUB_DEFAULT=0\n", 0
    if distro.family == "suse":
        return "saved_entry=SLES 15-SP5\nGRUB_DEFAULT=saved\n", 0
    env = f"saved_entry={state.machine_id}-{state.default_kernel}\n"
    if distro.key == "rhel-8":
        env += (
            "kernelopts=root=/dev/mapper/rhel-root ro crashkernel=auto "
            "resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet \n"
        )
    if distro.key != "amzn-2023":
        env += "menu_auto_hide=1\nboot_success=0\nboot_indeterminate=0\n"
    return env + "GRUB_DEFAULT=saved\n", 0


def vmlinuz_link(state: HostState, distro: Distro) -> Output:
    """`readlink -f /vmlinuz /boot/vmlinuz`: a missing last component is printed as given."""
    target = f"/boot/vmlinuz-{state.newest_kernel}"
    if distro.key == "debian-12":
        return f"{target}\n/boot/vmlinuz\n", 0
    if distro.key.startswith("ubuntu") or distro.family == "suse":
        return f"/vmlinuz\n{target}\n", 0
    return "/vmlinuz\n/boot/vmlinuz\n", 0


def reboot_required(state: HostState, distro: Distro) -> Output:
    if distro.has("reboot-required-flag") and state.reboot_required_pkgs:
        return "*** System restart required ***\n", 0
    return "", 1


def reboot_required_pkgs(state: HostState, distro: Distro) -> Output:
    if distro.has("reboot-required-flag") and state.reboot_required_pkgs:
        return "".join(p + "\n" for p in state.reboot_required_pkgs), 0
    return "", 1


def needrestart(state: HostState, distro: Distro) -> Output:
    if not distro.has("needrestart"):
        return NOT_FOUND
    ksta = 1 if state.booted_kernel == state.newest_kernel else 3
    lines = [
        f"NEEDRESTART-VER: {distro.needrestart_version}",
        f"NEEDRESTART-KCUR: {state.booted_kernel}",
        f"NEEDRESTART-KEXP: {state.newest_kernel}",
        f"NEEDRESTART-KSTA: {ksta}",
    ]
    lines += [f"NEEDRESTART-SVC: {svc}" for svc in state.needrestart_services]
    return "".join(line + "\n" for line in lines), 0


def needs_restarting(state: HostState, distro: Distro) -> Output:
    if not distro.has("needs-restarting"):
        return NOT_FOUND
    if state.booted_kernel != state.newest_kernel:
        return (
            "Core libraries or services have been updated since boot-up:\n"
            "  * kernel\n\n"
            "Reboot is required to fully utilize these updates.\n"
            "More information: https://access.redhat.com/solutions/27943\n",
            1,
        )
    return (
        "No core libraries or services have been updated since boot-up.\n"
        "Reboot should not be necessary.\n",
        0,
    )


def proc_cmdline(state: HostState, distro: Distro) -> str:
    k = state.booted_kernel
    root_uuid = next((e.spec for e in state.fstab if e.mountpoint == "/"), "")
    if distro.key.startswith("ubuntu"):
        return (
            f"BOOT_IMAGE=/boot/vmlinuz-{k} root=PARTUUID={state.machine_id[:8]}-"
            f"{state.machine_id[8:12]}-{state.machine_id[12:16]}-{state.machine_id[16:20]}-"
            f"{state.machine_id[20:]} ro console=tty1 console=ttyS0 "
            "nvme_core.io_timeout=4294967295 panic=-1\n"
        )
    if distro.key == "debian-12":
        return (
            f"BOOT_IMAGE=/boot/vmlinuz-{k} root={root_uuid} ro console=tty0 "
            "console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0\n"
        )
    if distro.key == "amzn-2023":
        return (
            f"BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-{k} root={root_uuid} ro console=tty0 "
            "console=ttyS0,115200n8 nvme_core.io_timeout=4294967295 rd.emergency=poweroff "
            "rd.shell=0 selinux=1 security=selinux quiet\n"
        )
    if distro.family == "suse":
        return (
            f"BOOT_IMAGE=/boot/vmlinuz-{k} root={root_uuid} splash=silent "
            "mitigations=auto quiet security=apparmor\n"
        )
    vg = root_uuid.rsplit("/", 1)[-1].split("-")[0]
    crash = "auto" if distro.key == "rhel-8" else "1G-4G:192M,4G-64G:256M,64G-:512M"
    return (
        f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{k} root={root_uuid} ro crashkernel={crash} "
        f"resume=/dev/mapper/{vg}-swap rd.lvm.lv={vg}/root rd.lvm.lv={vg}/swap rhgb quiet\n"
    )


def modules_dirs(state: HostState) -> str:
    return "".join(k + "\n" for k in sorted(state.installed_kernels))
