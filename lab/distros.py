"""The distributions the lab simulates: release files, kernel streams and which tools they ship.

Kernel streams are real release strings of each distribution (oldest first), with the package
version that installs them, so rendered `dpkg-query` / `rpm -q` lines look like the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kernel:
    release: str  # as `uname -r` prints it
    package_version: str  # dpkg version (Debian family) or rpm version-release (rpm family)


@dataclass(frozen=True)
class Distro:
    key: str
    family: str  # "debian", "rhel" or "suse"
    systemd: int
    os_release: str
    kernels: tuple[Kernel, ...]
    tools: frozenset[str]
    livepatch: str | None = None  # provider a host of this distro may run
    ssh_unit: str = "sshd.service"
    needrestart_version: str = ""
    boot_seconds: tuple[int, int] = (12, 30)
    extra_kernels: tuple[Kernel, ...] = field(default=())  # a second kernel line (Oracle RHCK)

    @property
    def is_debian(self) -> bool:
        return self.family == "debian"

    def has(self, tool: str) -> bool:
        return tool in self.tools


def _ubuntu_kernels(base: str, pairs: list[tuple[int, int]]) -> tuple:
    return tuple(Kernel(f"{base}-{abi}-generic", f"{base}-{abi}.{up}") for abi, up in pairs)


def _rpm_kernels(releases: list[str], arch: str = ".x86_64") -> tuple:
    return tuple(Kernel(r + arch, r) for r in releases)


_DEB_TOOLS = {"dpkg", "grub-editenv", "reboot-required-flag", "readlink-vmlinuz"}
_RPM_TOOLS = {"rpm", "grub2-editenv", "grubby", "needs-restarting"}

UBUNTU_2004 = Distro(
    key="ubuntu-20.04",
    family="debian",
    systemd=245,
    os_release="""NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
""",
    kernels=_ubuntu_kernels(
        "5.4.0",
        [(162, 179), (163, 180), (164, 181), (165, 182), (166, 183), (167, 184), (169, 187)],
    ),
    tools=frozenset(_DEB_TOOLS),
    livepatch="canonical-livepatch",
    ssh_unit="ssh.service",
    boot_seconds=(15, 35),
)

UBUNTU_2204 = Distro(
    key="ubuntu-22.04",
    family="debian",
    systemd=249,
    os_release="""PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
""",
    kernels=_ubuntu_kernels(
        "5.15.0",
        [(88, 98), (89, 99), (91, 101), (92, 102), (94, 104), (97, 107), (100, 110), (101, 111)],
    ),
    tools=frozenset(_DEB_TOOLS | {"needrestart"}),
    livepatch="canonical-livepatch",
    ssh_unit="ssh.service",
    needrestart_version="3.5",
    boot_seconds=(12, 30),
)

UBUNTU_2404 = Distro(
    key="ubuntu-24.04",
    family="debian",
    systemd=255,
    os_release="""PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
""",
    kernels=_ubuntu_kernels(
        "6.8.0", [(35, 35), (36, 36), (38, 38), (39, 39), (40, 40), (41, 41), (44, 44), (45, 45)]
    ),
    tools=frozenset(_DEB_TOOLS | {"needrestart"}),
    livepatch="canonical-livepatch",
    ssh_unit="ssh.service",
    needrestart_version="3.6",
    boot_seconds=(10, 25),
)

DEBIAN_12 = Distro(
    key="debian-12",
    family="debian",
    systemd=252,
    os_release="""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
""",
    kernels=tuple(
        Kernel(f"6.1.0-{abi}-cloud-amd64", version)
        for abi, version in [
            (17, "6.1.69-1"),
            (18, "6.1.76-1"),
            (20, "6.1.85-1"),
            (21, "6.1.90-1"),
            (22, "6.1.94-1"),
            (23, "6.1.99-1"),
            (25, "6.1.106-3"),
            (26, "6.1.112-1"),
        ]
    ),
    # Debian has no update-notifier hook: no /var/run/reboot-required, no needrestart by default.
    tools=frozenset({"dpkg", "grub-editenv", "readlink-vmlinuz"}),
    ssh_unit="ssh.service",
    boot_seconds=(8, 20),
)

RHEL_8 = Distro(
    key="rhel-8",
    family="rhel",
    systemd=239,
    os_release="""NAME="Red Hat Enterprise Linux"
VERSION="8.9 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.9"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.9 (Ootpa)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/8"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 8"
REDHAT_BUGZILLA_PRODUCT_VERSION=8.9
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="8.9"
""",
    kernels=_rpm_kernels(
        [
            "4.18.0-513.5.1.el8_9",
            "4.18.0-513.9.1.el8_9",
            "4.18.0-513.11.1.el8_9",
            "4.18.0-513.18.1.el8_9",
            "4.18.0-513.24.1.el8_9",
        ]
    ),
    tools=frozenset(_RPM_TOOLS),
    livepatch="kpatch",
    boot_seconds=(20, 45),
)

RHEL_9 = Distro(
    key="rhel-9",
    family="rhel",
    systemd=252,
    os_release="""NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
BUG_REPORT_URL="https://bugzilla.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
""",
    kernels=_rpm_kernels(
        [
            "5.14.0-427.13.1.el9_4",
            "5.14.0-427.16.1.el9_4",
            "5.14.0-427.18.1.el9_4",
            "5.14.0-427.20.1.el9_4",
            "5.14.0-427.22.1.el9_4",
            "5.14.0-427.24.1.el9_4",
        ]
    ),
    tools=frozenset(_RPM_TOOLS),
    livepatch="kpatch",
    boot_seconds=(15, 40),
)

ROCKY_9 = Distro(
    key="rocky-9",
    family="rhel",
    systemd=252,
    os_release="""NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.4"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
""",
    kernels=_rpm_kernels(
        [
            "5.14.0-427.13.1.el9_4",
            "5.14.0-427.16.1.el9_4",
            "5.14.0-427.18.1.el9_4",
            "5.14.0-427.20.1.el9_4",
            "5.14.0-427.22.1.el9_4",
        ]
    ),
    tools=frozenset(_RPM_TOOLS),
    boot_seconds=(15, 40),
)

AMAZON_2023 = Distro(
    key="amzn-2023",
    family="rhel",
    systemd=252,
    os_release="""NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.5.20240624"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"
DOCUMENTATION_URL="https://docs.aws.amazon.com/linux/"
SUPPORT_URL="https://aws.amazon.com/premiumsupport/"
BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"
VENDOR_NAME="AWS"
VENDOR_URL="https://aws.amazon.com/"
SUPPORT_END="2028-03-15"
""",
    kernels=_rpm_kernels(
        [
            "6.1.82-99.168.amzn2023",
            "6.1.84-99.169.amzn2023",
            "6.1.90-99.173.amzn2023",
            "6.1.91-99.172.amzn2023",
            "6.1.92-99.174.amzn2023",
            "6.1.94-99.176.amzn2023",
        ]
    ),
    # AL2023 answers through the `dnf needs-restarting` plugin, as the probe falls back to.
    tools=frozenset({"rpm", "grub2-editenv", "grubby", "needs-restarting"}),
    boot_seconds=(8, 18),
)

SLES_15 = Distro(
    key="sles-15",
    family="suse",
    systemd=249,
    os_release="""NAME="SLES"
VERSION="15-SP5"
VERSION_ID="15.5"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp5"
DOCUMENTATION_URL="https://documentation.suse.com/"
""",
    kernels=tuple(
        Kernel(f"5.14.21-150500.55.{n}-default", f"5.14.21-150500.55.{n}.1")
        for n in (36, 39, 44, 49, 52, 59, 62)
    ),
    tools=frozenset({"rpm", "grub2-editenv", "readlink-vmlinuz"}),
    boot_seconds=(20, 50),
)

ORACLE_9 = Distro(
    key="ol-9",
    family="rhel",
    systemd=252,
    os_release="""NAME="Oracle Linux Server"
VERSION="9.4"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Oracle Linux Server 9.4"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:9:4:server"
HOME_URL="https://linux.oracle.com/"
BUG_REPORT_URL="https://github.com/oracle/oracle-linux"

ORACLE_BUGZILLA_PRODUCT="Oracle Linux 9"
ORACLE_BUGZILLA_PRODUCT_VERSION=9.4
ORACLE_SUPPORT_PRODUCT="Oracle Linux"
ORACLE_SUPPORT_PRODUCT_VERSION=9.4
""",
    kernels=_rpm_kernels(
        [
            "5.15.0-200.131.27.el9uek",
            "5.15.0-201.135.6.el9uek",
            "5.15.0-202.135.2.el9uek",
            "5.15.0-203.146.5.1.el9uek",
            "5.15.0-204.147.6.2.el9uek",
            "5.15.0-205.149.5.1.el9uek",
        ]
    ),
    # The Red Hat compatible kernel is installed beside UEK; UEK is the default boot entry.
    extra_kernels=_rpm_kernels(["5.14.0-427.13.1.0.1.el9_4"]),
    tools=frozenset(_RPM_TOOLS | {"uptrack"}),
    livepatch="ksplice",
    boot_seconds=(20, 45),
)

DISTROS: dict[str, Distro] = {
    d.key: d
    for d in (
        UBUNTU_2004,
        UBUNTU_2204,
        UBUNTU_2404,
        DEBIAN_12,
        RHEL_8,
        RHEL_9,
        ROCKY_9,
        AMAZON_2023,
        SLES_15,
        ORACLE_9,
    )
}

# Rough share of each distribution in a generated fleet (Ubuntu-heavy, like most fleets).
DISTRO_WEIGHTS: dict[str, int] = {
    "ubuntu-20.04": 8,
    "ubuntu-22.04": 22,
    "ubuntu-24.04": 14,
    "debian-12": 12,
    "rhel-8": 8,
    "rhel-9": 10,
    "rocky-9": 8,
    "amzn-2023": 8,
    "sles-15": 5,
    "ol-9": 5,
}


def get_distro(key: str) -> Distro:
    try:
        return DISTROS[key]
    except KeyError:
        raise ValueError(f"unknown distro {key!r}; known: {', '.join(DISTROS)}") from None


def rpm_packages(distro: Distro, kernel: Kernel) -> list[tuple[str, str]]:
    """(query name, installed package NVRA) pairs that `rpm -q` lists for one installed kernel."""
    if distro.family == "suse":
        return [("kernel-default", f"kernel-default-{kernel.package_version}.x86_64")]
    if kernel.release.endswith("uek.x86_64"):
        return [("kernel-uek", f"kernel-uek-{kernel.release}")]
    if distro.key == "amzn-2023":
        return [("kernel", f"kernel-{kernel.release}")]
    return [
        ("kernel", f"kernel-{kernel.release}"),
        ("kernel-core", f"kernel-core-{kernel.release}"),
    ]
