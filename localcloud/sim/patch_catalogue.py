"""What the simulated fleet can install: a deterministic catalogue per operating system.

See localcloud.sim.patches for how the catalogue is dated and judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Literal, get_args

# AWS's names for operating systems and patch states, written out here on purpose rather
# than imported from the product: the simulator is an independent oracle of what AWS does.
OperatingSystem = Literal[
    "AMAZON_LINUX_2",
    "AMAZON_LINUX_2023",
    "REDHAT_ENTERPRISE_LINUX",
    "CENTOS",
    "SUSE",
    "UBUNTU",
    "WINDOWS",
]
OPERATING_SYSTEMS: tuple[OperatingSystem, ...] = get_args(OperatingSystem)

PatchState = Literal[
    "INSTALLED",
    "INSTALLED_OTHER",
    "INSTALLED_PENDING_REBOOT",
    "INSTALLED_REJECTED",
    "MISSING",
    "FAILED",
]
NON_COMPLIANT_STATES: frozenset[str] = frozenset(
    {"INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED", "MISSING", "FAILED"}
)

# Patch Manager's compliance levels, most severe first.
COMPLIANCE_LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED")

# How old the fleet's machine images are relative to the catalogue's reference.
IMAGE_AGE = timedelta(days=60)


# --- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One available update, as Patch Manager reports it."""

    kb_id: str  # Linux: name.arch (kernel.x86_64); Windows: KB5044281
    title: str  # Linux: name.arch:epoch:version-release; Windows: the update's title
    classification: str
    severity: str  # SEVERITY (Linux), MSRC_SEVERITY (Windows) or PRIORITY (Ubuntu); may be ""
    released: datetime
    security: bool
    properties: Mapping[str, str] = field(repr=False, hash=False)  # PatchFilter key -> value
    cve_ids: tuple[str, ...] = ()
    advisory_id: str | None = None

    def names(self) -> tuple[str, ...]:
        """Every form an ApprovedPatches/RejectedPatches entry may use for this patch."""
        forms = [self.kb_id, self.title, *self.cve_ids]
        if "NAME" in self.properties:
            forms.append(self.properties["NAME"])
        if self.advisory_id is not None:
            forms.append(self.advisory_id)
        return tuple(forms)


# Each product's updates, one per line: days since the reference, classification, severity,
# the patch title (name.arch:epoch:version-release), advisory and CVEs ("-": none). Ubuntu
# has no classification: its columns are the priority and the archive section, and an
# update is a security update iff it has a security notice (USN).
_AL2 = """
-150 Security Important openssh.x86_64:0:7.4p1-22.amzn2.0.6 ALAS2-2023-2182 CVE-2023-38408
-95 Enhancement - ca-certificates.noarch:0:2023.2.64-1.amzn2.0.1 - -
-75 Bugfix - bash.x86_64:0:4.2.46-34.amzn2.0.4 - -
-45 Security Important kernel.x86_64:0:5.10.228-219.884.amzn2 ALAS2-2024-2698 CVE-2024-1086
-38 Security Important openssl-libs.x86_64:1:1.0.2k-24.amzn2.0.14 ALAS2-2024-2634 CVE-2024-5535
-30 Security Medium glibc.x86_64:0:2.26-64.amzn2.0.3 ALAS2-2024-2587 CVE-2024-33599
-24 Bugfix - system-release.x86_64:1:2-17.amzn2 - -
-16 Security Critical curl.x86_64:0:8.3.0-1.amzn2.0.7 ALAS2-2024-2618 CVE-2024-7264
-11 Security Low python3.x86_64:0:3.7.16-1.amzn2.0.10 ALAS2-2024-2651 CVE-2024-6232
-8 Bugfix - tzdata.noarch:0:2024b-1.amzn2.0.1 - -
-5 Enhancement - amazon-ssm-agent.x86_64:0:3.3.1142.0-1.amzn2 - -
-3 Security Critical sudo.x86_64:0:1.9.15-1.p5.amzn2.0.1 ALAS2-2024-2667 CVE-2023-22809
-1 Security Medium vim-minimal.x86_64:2:9.1.0707-1.amzn2.0.1 ALAS2-2024-2660 CVE-2024-43802
9 Security Important libxml2.x86_64:0:2.9.1-6.amzn2.5.15 ALAS2-2024-2690 CVE-2024-40896
"""
_AL2023 = """
-140 Security Important openssh.x86_64:0:8.7p1-8.amzn2023.0.11 ALAS2023-2024-651 CVE-2024-6387
-90 Enhancement - ca-certificates.noarch:0:2023.2.68-1.0.amzn2023.0.1 - -
-44 Security Important kernel.x86_64:0:6.1.115-126.197.amzn2023 ALAS2023-2024-757 CVE-2024-50264
-37 Security Important openssl-libs.x86_64:1:3.0.8-1.amzn2023.0.16 ALAS2023-2024-700 CVE-2024-5535
-29 Security Medium glibc.x86_64:0:2.34-52.amzn2023.0.11 ALAS2023-2024-640 CVE-2024-33599
-23 Bugfix - system-release.noarch:0:2023.6.20241111-0.amzn2023 - -
-15 Security Critical curl-minimal.x86_64:0:8.5.0-1.amzn2023.0.4 ALAS2023-2024-709 CVE-2024-7264
-10 Security Low python3.x86_64:0:3.9.20-1.amzn2023.0.1 ALAS2023-2024-738 CVE-2024-6232
-7 Bugfix - tzdata.noarch:0:2024b-1.amzn2023.0.1 - -
-4 Enhancement - dnf.noarch:0:4.14.0-1.amzn2023.0.6 - -
-2 Security Critical sudo.x86_64:0:1.9.15-1.p5.amzn2023.0.1 ALAS2023-2024-762 CVE-2023-42465
8 Security Important libxml2.x86_64:0:2.10.4-1.amzn2023.0.7 ALAS2023-2024-770 CVE-2024-40896
"""
_RHEL = """
-130 Security Important openssh.x86_64:0:8.7p1-38.el9_4.4 RHSA-2024:4312 CVE-2024-6387
-42 Security Important kernel.x86_64:0:5.14.0-427.42.1.el9_4 RHSA-2024:8856 CVE-2024-46824
-33 Security Moderate openssl-libs.x86_64:1:3.0.7-29.el9_4 RHSA-2024:7848 CVE-2024-5535
-26 Bugfix - redhat-release.x86_64:0:9.4-0.5.el9 RHBA-2024:8102 -
-13 Security Critical curl.x86_64:0:7.76.1-29.el9_4.1 RHSA-2024:8841 CVE-2024-2398
-9 Bugfix - tzdata.noarch:0:2024b-2.el9 RHBA-2024:8890 -
-6 Enhancement - dnf.noarch:0:4.14.0-9.el9_4 RHEA-2024:8920 -
-2 Security Important sudo.x86_64:0:1.9.5p2-10.el9_4.1 RHSA-2024:9011 CVE-2023-42465
10 Security Moderate python3.x86_64:0:3.9.18-3.el9_4.6 RHSA-2024:9192 CVE-2024-6232
"""
# CentOS 7 reached its end of life: no update is released after the reference.
_CENTOS = """
-160 Security Important openssh.x86_64:0:7.4p1-23.el7_9 CESA-2023:4419 CVE-2023-38408
-46 Security Important kernel.x86_64:0:3.10.0-1160.119.1.el7 CESA-2024:4211 CVE-2024-26852
-31 Bugfix - centos-release.x86_64:0:7-9.2009.2.el7.centos - -
-22 Security Moderate glibc.x86_64:0:2.17-326.el7_9.3 CESA-2024:3588 CVE-2024-2961
-12 Security Critical curl.x86_64:0:7.29.0-59.el7_9.2 CESA-2024:1446 CVE-2023-27535
-5 Bugfix - tzdata.noarch:0:2024a-1.el7 - -
-1 Enhancement - yum-utils.noarch:0:1.1.31-54.el7_9 - -
"""
_SUSE = """
-120 Security Important openssh.x86_64:0:8.4p1-150300.3.37.1 SUSE-SU-2024:2275-1 CVE-2024-6387
-41 Security Important kernel-default.x86_64:0:5.14.21-150500.55.83.1 SUSE-SU-2024:3895-1 -
-28 Security Moderate libopenssl3.x86_64:0:3.0.8-150500.5.45.1 SUSE-SU-2024:3710-1 CVE-2024-5535
-18 Recommended - zypper.x86_64:0:1.14.77-150500.6.13.1 SUSE-RU-2024:3521-1 -
-9 Security Critical curl.x86_64:0:8.0.1-150400.5.52.1 SUSE-SU-2024:3904-1 CVE-2024-7264
-4 Recommended - timezone.x86_64:0:2024b-150000.75.31.1 SUSE-RU-2024:3940-1 -
11 Security Important sudo.x86_64:0:1.9.12p1-150500.7.10.1 SUSE-SU-2024:4012-1 CVE-2023-42465
"""
_UBUNTU = """
-110 Standard net openssh-server.amd64:0:1:8.9p1-3ubuntu0.10 USN-6859-1 CVE-2024-6387
-40 Optional kernel linux-image-aws.amd64:0:5.15.0.1072.72 USN-7088-1 CVE-2024-46824
-27 Important libs libssl3.amd64:0:3.0.2-0ubuntu1.18 USN-7018-1 CVE-2024-5535
-19 Important misc ubuntu-advantage-tools.amd64:0:34~22.04 - -
-8 Optional web curl.amd64:0:7.81.0-1ubuntu1.18 USN-6944-1 CVE-2024-7264
-3 Required libs tzdata.all:0:2024a-0ubuntu0.22.04.1 - -
12 Important admin sudo.amd64:0:1.9.9-1ubuntu2.5 USN-7120-1 CVE-2023-42465
"""
# product, product family, table
_LINUX_TABLES: dict[OperatingSystem, tuple[str, str | None, str]] = {
    "AMAZON_LINUX_2": ("AmazonLinux2", None, _AL2),
    "AMAZON_LINUX_2023": ("AmazonLinux2023", None, _AL2023),
    "REDHAT_ENTERPRISE_LINUX": ("RedhatEnterpriseLinux9.4", "RedhatEnterpriseLinux", _RHEL),
    "CENTOS": ("CentOS7.9", "CentOS", _CENTOS),
    "SUSE": ("Suse15.5", "Suse", _SUSE),
    "UBUNTU": ("Ubuntu22.04", "Ubuntu", _UBUNTU),
}

# Windows: days, classification, MSRC severity, KB, CVEs and the kind of update (its title).
_WINDOWS = """
-140 SecurityUpdates Important KB5034439 CVE-2024-20666 security
-90 SecurityUpdates Critical KB5041160 CVE-2024-38063 cumulative
-27 SecurityUpdates Critical KB5044281 CVE-2024-43572 cumulative
-27 SecurityUpdates Important KB5044029 CVE-2024-43483 dotnet
-20 UpdateRollups Unspecified KB890830 - msrt
-12 CriticalUpdates Unspecified KB5045329 - servicing-stack
-6 Updates Unspecified KB5046095 - dotnet-preview
-2 SecurityUpdates Critical KB5046616 CVE-2024-43498 cumulative
33 SecurityUpdates Critical KB5048654 CVE-2024-49112 cumulative
"""
_SERVER_2022 = "Microsoft server operating system version 21H2"
_WINDOWS_TITLES = {
    "security": "{month} Security Update for Windows Server 2022 for x64-based Systems ({kb})",
    "cumulative": "{month} Cumulative Update for " + _SERVER_2022 + " for x64-based Systems ({kb})",
    "dotnet": "{month} Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for "
    + _SERVER_2022
    + " for x64 ({kb})",
    "msrt": "Windows Malicious Software Removal Tool x64 - v5.129 ({kb})",
    "servicing-stack": "{month} Servicing Stack Update for "
    + _SERVER_2022
    + " for x64-based Systems ({kb})",
    "dotnet-preview": "{month} Cumulative Update Preview for .NET Framework 3.5, 4.8 and 4.8.1 "
    "({kb})",
}


def _optional(column: str) -> str:
    return "" if column == "-" else column


def _linux_patches(os_name: OperatingSystem, reference: datetime) -> list[Patch]:
    product, family, table = _LINUX_TABLES[os_name]
    patches = []
    for line in table.strip().splitlines():
        days, first, second, title, advisory, cves = line.split()
        kb_id = title.split(":", 1)[0]
        name, arch = kb_id.rsplit(".", 1)
        properties = {"PRODUCT": product, "NAME": name, "ARCH": arch}
        if family is not None:
            properties["PRODUCT_FAMILY"] = family
        if os_name == "UBUNTU":
            classification, severity = "", first
            properties |= {"PRIORITY": first, "SECTION": second}
            security = advisory.startswith("USN-")
        else:
            classification, severity = first, _optional(second)
            properties |= {"CLASSIFICATION": classification, "SEVERITY": severity}
            security = classification == "Security"
        patches.append(
            Patch(
                kb_id=kb_id,
                title=title,
                classification=classification,
                severity=severity,
                released=reference + timedelta(days=int(days)),
                security=security,
                properties=properties,
                cve_ids=tuple(cves.split(",")) if cves != "-" else (),
                advisory_id=_optional(advisory) or None,
            )
        )
    return patches


def _windows_patches(reference: datetime) -> list[Patch]:
    patches = []
    for line in _WINDOWS.strip().splitlines():
        days, classification, severity, kb_id, cves, kind = line.split()
        released = reference + timedelta(days=int(days))
        patches.append(
            Patch(
                kb_id=kb_id,
                title=_WINDOWS_TITLES[kind].format(month=f"{released:%Y-%m}", kb=kb_id),
                classification=classification,
                severity=severity,
                released=released,
                security=classification == "SecurityUpdates",
                properties={
                    "PRODUCT": "WindowsServer2022",
                    "PRODUCT_FAMILY": "Windows",
                    "CLASSIFICATION": classification,
                    "MSRC_SEVERITY": severity,
                    "PATCH_SET": "OS",
                },
                cve_ids=tuple(cves.split(",")) if cves != "-" else (),
            )
        )
    return patches


@cache
def catalogue(os_name: OperatingSystem, reference: datetime) -> tuple[Patch, ...]:
    """Every patch ever released for ``os_name``, dated relative to ``reference``."""
    if os_name == "WINDOWS":
        patches = _windows_patches(reference)
    else:
        patches = _linux_patches(os_name, reference)
    return tuple(sorted(patches, key=lambda p: p.released))


def available(os_name: OperatingSystem, reference: datetime, now: datetime) -> tuple[Patch, ...]:
    """The patches released by ``now``."""
    return tuple(p for p in catalogue(os_name, reference) if p.released <= now)
