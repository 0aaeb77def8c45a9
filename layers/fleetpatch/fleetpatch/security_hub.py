"""Non-compliant instances as AWS Security Hub findings (ASFF), updated when they recover.

Published from the compliance digest (``fleetpatch.services.reports``), never per event:
a storm of compliance events is already collapsed there into one entry per instance (its
latest transition), and the entries go to ``BatchImportFindings`` 100 at a time (the
API's limit), one call per 100 changed instances.

One finding per instance (``Id`` ``fleetpatch/patch-compliance/<instance>``), from this
account's default product (a custom integration: ``ProductArn``
``arn:aws:securityhub:<region>:<account>:product/<account>/default``). A drift imports it
with ``Compliance.Status`` FAILED and ``RecordState`` ACTIVE; a recovery updates the same
finding with PASSED and ARCHIVED (Security Hub then sets ``Workflow.Status`` RESOLVED
itself; a provider may not set the workflow). ``UpdatedAt`` is the compliance event's time:
Security Hub applies an update only when it is later than the stored one, so a late or
repeated digest cannot undo a newer state. docs/audit-export.md maps each field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetpatch import aws
from fleetpatch.reports import DriftEntry

LOG = logging.getLogger(__name__)

SCHEMA_VERSION = "2018-10-08"
MAX_FINDINGS_PER_CALL = 100  # BatchImportFindings: "Maximum of 100 findings per request"
GENERATOR_ID = "fleetpatch/patch-compliance"
FINDING_TYPE = "Software and Configuration Checks/Vulnerabilities/Missing patches"
# Patch Manager's compliance severities -> ASFF Severity.Label.
_LABELS = {
    "CRITICAL": "CRITICAL",
    "HIGH": "HIGH",
    "MEDIUM": "MEDIUM",
    "LOW": "LOW",
    "INFORMATIONAL": "INFORMATIONAL",
}


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str

    @classmethod
    def of_arn(cls, arn: str) -> Account:
        """From any ARN of this account and region (the reports topic's)."""
        parts = arn.split(":")
        return cls(partition=parts[1], region=parts[3], account_id=parts[4])

    @property
    def product_arn(self) -> str:
        return (
            f"arn:{self.partition}:securityhub:{self.region}:{self.account_id}:"
            f"product/{self.account_id}/default"
        )


def finding_id(instance_id: str) -> str:
    return f"{GENERATOR_ID}/{instance_id}"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def finding(entry: DriftEntry, account: Account) -> dict[str, Any]:
    """The ASFF finding of one digest entry (every required top-level attribute)."""
    failed = entry.transition == "drifted"
    label = _LABELS.get((entry.severity or "").upper(), "LOW") if failed else "INFORMATIONAL"
    where = " / ".join(p for p in (entry.environment, entry.patch_group) if p) or "no patch group"
    at = _stamp(entry.at)
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(entry.instance_id),
        "ProductArn": account.product_arn,
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": account.account_id,
        "Types": [FINDING_TYPE],
        "CreatedAt": at,
        "UpdatedAt": at,
        "Severity": {"Label": label},
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": [FINDING_TYPE]},
        "Title": (
            f"{entry.instance_id} is missing approved patches"
            if failed
            else f"{entry.instance_id} is patch compliant again"
        ),
        "Description": (
            f"Patch Manager reports {entry.instance_id} ({where}) non-compliant with its patch "
            f"baseline {entry.baseline_id or ''}: approved patches are missing, failed or wait "
            "for a reboot (fleetpatch)."
            if failed
            else f"Patch Manager reports {entry.instance_id} ({where}) compliant again."
        ),
        "Resources": [
            {
                "Type": "AwsEc2Instance",
                "Id": f"arn:{account.partition}:ec2:{account.region}:{account.account_id}:"
                f"instance/{entry.instance_id}",
                "Partition": account.partition,
                "Region": account.region,
            }
        ],
        "Compliance": {"Status": "FAILED" if failed else "PASSED"},
        "RecordState": "ACTIVE" if failed else "ARCHIVED",
        "ProductFields": {
            "fleetpatch/environment": entry.environment or "",
            "fleetpatch/patchGroup": entry.patch_group or "",
            "fleetpatch/patchBaseline": entry.baseline_id or "",
        },
    }


@dataclass(frozen=True)
class Published:
    calls: int
    imported: int
    failed: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "imported": self.imported, "failed": self.failed}


def publish(securityhub: Any, entries: Iterable[DriftEntry], account: Account) -> Published:
    """Import one finding per entry, 100 a call. Findings Security Hub refuses are returned
    (``FailedFindings``: id, code, message) and logged; they do not fail the digest."""
    findings = [finding(e, account) for e in entries]
    calls, imported, failed = 0, 0, []
    for start in range(0, len(findings), MAX_FINDINGS_PER_CALL):
        batch: Sequence[dict[str, Any]] = findings[start : start + MAX_FINDINGS_PER_CALL]
        answer = aws.patiently(securityhub.batch_import_findings, Findings=list(batch))
        calls += 1
        imported += int(answer.get("SuccessCount", 0))
        failed += list(answer.get("FailedFindings", []))
    if failed:
        LOG.error("Security Hub refused findings", extra={"failed": failed[:20]})
    return Published(calls, imported, failed)
