"""Amazon Inspector on the simulated fleet: package-vulnerability findings for EC2 instances.

A scenario or test raises a finding for an instance (:meth:`InspectorSimulator.raise_finding`):
it is stored, served by ``ListFindings`` (localcloud.adapters.inspector2) and announced on
EventBridge as Inspector announces it: ``source: aws.inspector2``, ``detail-type: Inspector2
Finding``, the instance id in ``resources`` and the finding itself as ``detail``, with its
times written as Inspector writes them in events (``Jan 19, 2023, 10:46:15 PM``). Raising
the same CVE on the same instance again updates the finding (``lastObservedAt``) and
announces it again, as Inspector's rescans do; :meth:`close` marks it CLOSED (remediated).

The shapes (Finding, Resource, PackageVulnerabilityDetails, VulnerablePackage) are written
out from the Inspector API reference and the EventBridge schema page on purpose: the
simulator is an independent oracle of what Inspector sends.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.core.context import Cloud
from localcloud.core.registry import Slot
from localcloud.sim.patch_catalogue import OperatingSystem, catalogue

SOURCE = "aws.inspector2"
FINDING_DETAIL_TYPE = "Inspector2 Finding"
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED")
# Inspector's EC2 platform names for the simulated operating systems.
_PLATFORMS: dict[str, str] = {
    "AMAZON_LINUX_2": "AMAZON_LINUX_2",
    "AMAZON_LINUX_2023": "AMAZON_LINUX_2023",
    "REDHAT_ENTERPRISE_LINUX": "RHEL_9",
    "CENTOS": "CENTOS_7",
    "SUSE": "SUSE_15_5",
    "UBUNTU": "UBUNTU_22_04",
    "WINDOWS": "WINDOWS_SERVER_2022",
}
_MANAGERS: dict[str, str] = {
    "UBUNTU": "DPKG",
    "WINDOWS": "OS",
    "SUSE": "RPM",
}


def event_time(when: datetime) -> str:
    """An instant as Inspector's EventBridge events write it ("Jan 19, 2023, 10:46:15 PM")."""
    utc = when.astimezone(UTC)
    return f"{utc:%b} {utc.day}, {utc:%Y}, {utc.hour % 12 or 12}:{utc:%M:%S} {utc:%p}"


@dataclass
class Finding:
    arn: str
    instance_id: str
    os: OperatingSystem
    cve: str
    severity: str
    first_observed: datetime
    last_observed: datetime
    packages: list[dict[str, Any]]
    status: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)

    def api(self, account_id: str, region: str) -> dict[str, Any]:
        """The finding as ListFindings returns it (times as datetimes; botocore renders them)."""
        return self._shape(account_id, region, self.first_observed, self.last_observed)

    def event_detail(self, account_id: str, region: str) -> dict[str, Any]:
        return self._shape(
            account_id, region, event_time(self.first_observed), event_time(self.last_observed)
        )

    def _shape(self, account_id: str, region: str, first: Any, last: Any) -> dict[str, Any]:
        fixes = ", ".join(
            f"{p['name']} {p.get('fixedInVersion', '')}".strip() for p in self.packages
        )
        return {
            "awsAccountId": account_id,
            "description": f"{self.cve}: a vulnerability in {fixes or 'an installed package'}.",
            "findingArn": self.arn,
            "firstObservedAt": first,
            "lastObservedAt": last,
            "updatedAt": last,
            "fixAvailable": "YES" if self.packages else "NO",
            "exploitAvailable": "NO",
            "inspectorScore": {"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.5, "LOW": 2.5}.get(
                self.severity, 0.0
            ),
            "packageVulnerabilityDetails": {
                "source": "NVD",
                "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{self.cve}",
                "vendorSeverity": self.severity.title(),
                "vulnerabilityId": self.cve,
                "vulnerablePackages": self.packages,
                "referenceUrls": [],
                "relatedVulnerabilities": [],
            },
            "remediation": {
                "recommendation": {"text": f"Update {fixes}" if fixes else "None provided"}
            },
            "resources": [
                {
                    "details": {
                        "awsEc2Instance": {
                            "platform": _PLATFORMS.get(self.os, self.os),
                            "type": "t3.micro",
                        }
                    },
                    "id": self.instance_id,
                    "partition": "aws",
                    "region": region,
                    "tags": dict(self.tags),
                    "type": "AWS_EC2_INSTANCE",
                }
            ],
            "severity": self.severity,
            "status": self.status,
            "title": f"{self.cve} - {', '.join(p['name'] for p in self.packages) or 'package'}",
            "type": "PACKAGE_VULNERABILITY",
        }


def vulnerable_packages(
    os_name: OperatingSystem, reference: datetime, cve: str
) -> list[dict[str, Any]]:
    """Inspector's VulnerablePackage entries for ``cve`` on ``os_name``: the fixing updates."""
    found: list[dict[str, Any]] = []
    for patch in catalogue(os_name, reference):
        if cve not in patch.cve_ids:
            continue
        if os_name == "WINDOWS":
            found.append({"name": patch.kb_id, "version": "", "packageManager": "OS"})
            continue
        name, arch = patch.kb_id.rsplit(".", 1)
        _, epoch, rest = patch.title.split(":", 2)
        version, _, release = rest.rpartition("-")
        found.append(
            {
                "name": name,
                "arch": arch,
                "epoch": int(epoch) if epoch.isdigit() else 0,
                "version": "0",
                "release": "0",
                "fixedInVersion": f"{epoch}:{version}-{release}",
                "packageManager": _MANAGERS.get(os_name, "RPM"),
                "remediation": f"yum update {name}"
                if os_name != "UBUNTU"
                else f"apt upgrade {name}",
            }
        )
    return found


class InspectorSimulator:
    """The account's Inspector findings (EC2 package vulnerabilities)."""

    def __init__(self, cloud: Cloud, os_of: Any, reference: datetime) -> None:
        self.cloud = cloud
        self._os_of = os_of  # instance id -> OperatingSystem | None (the fleet's)
        self._reference = reference
        self._findings: dict[tuple[str, str], Finding] = {}
        self.lock = threading.RLock()

    def raise_finding(self, instance_id: str, cve: str, severity: str = "CRITICAL") -> Finding:
        """Record (or observe again) ``cve`` on ``instance_id`` and announce it."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity {severity!r}: one of {', '.join(SEVERITIES)}")
        os_name = self._os_of(instance_id)
        if os_name is None:
            raise ValueError(f"{instance_id} is not an instance of the simulated fleet")
        now = self.cloud.clock.now()
        with self.lock:
            finding = self._findings.get((instance_id, cve))
            if finding is None:
                digest = hashlib.sha256(f"{instance_id}/{cve}".encode()).hexdigest()[:32]
                finding = Finding(
                    arn=f"arn:aws:inspector2:{self.cloud.region}:{self.cloud.account_id}"
                    f":finding/{digest}",
                    instance_id=instance_id,
                    os=os_name,
                    cve=cve,
                    severity=severity,
                    first_observed=now,
                    last_observed=now,
                    packages=vulnerable_packages(os_name, self._reference, cve),
                )
                self._findings[(instance_id, cve)] = finding
            else:
                finding.last_observed = now
                finding.status = "ACTIVE"
            detail = finding.event_detail(self.cloud.account_id, self.cloud.region)
        self.cloud.clock.call_later(
            0,
            lambda: self.cloud.emit(SOURCE, FINDING_DETAIL_TYPE, detail, [instance_id]),
            f"inspector2:finding:{instance_id}:{cve}",
        )
        return finding

    def close(self, instance_id: str, cve: str) -> None:
        with self.lock:
            finding = self._findings.get((instance_id, cve))
            if finding is not None:
                finding.status = "CLOSED"
                finding.last_observed = self.cloud.clock.now()

    def findings(self) -> list[Finding]:
        with self.lock:
            return sorted(self._findings.values(), key=lambda f: (f.first_observed, f.arn))


# The running cloud's Inspector (installed by localcloud.adapters.inspector2).
INSPECTOR: Slot[InspectorSimulator] = Slot("inspector")
