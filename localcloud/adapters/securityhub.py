"""AWS Security Hub's BatchImportFindings on the local cloud, as strict as AWS.

moto 5.2.5 stores whatever it is given (it checks only that ``Resources`` is not empty),
imports while Security Hub is disabled, and overwrites a finding with an older one. Here
``SecurityHubBackend.batch_import_findings`` is replaced (canaries in
``tests/unit/localcloud/test_moto_canaries_securityhub.py``) by what AWS documents; the
facts are restated on purpose, as an independent oracle of the product's code:

* 1 to 100 findings a call ("Maximum of 100 findings per request"), else the call fails
  with ``InvalidInputException``;
* Security Hub not enabled in the account and region: each finding fails, ``InvalidAccess``;
* each finding has every required top-level ASFF attribute (AwsAccountId, CreatedAt,
  Description, GeneratorId, Id, ProductArn, Resources, SchemaVersion, Severity, Title,
  Types, UpdatedAt), ``AwsAccountId`` is the caller's account and ``ProductArn`` a product
  it may import to (its default product, ``product/<account>/default``), else the finding
  fails with ``InvalidInput`` and the others go on (``FailedFindings``);
* a finding with the ``Id`` and ``ProductArn`` of a stored one updates it only if its
  ``UpdatedAt`` is later; a provider cannot change ``Workflow`` after creation; a new
  finding's workflow is NEW, and Security Hub sets RESOLVED itself when a NEW or NOTIFIED
  finding's ``RecordState`` becomes ARCHIVED or its ``Compliance.Status`` PASSED.

IAM (``securityhub:BatchImportFindings`` on the ``product`` resource) is enforced by
``localcloud.core.iam`` (its request model names each finding's ``ProductArn``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localcloud.core import motopatch

MAX_FINDINGS = 100
REQUIRED = (
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
)
_LABELS = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
_COMPLIANCE = {"PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"}
_RECORD_STATES = {"ACTIVE", "ARCHIVED"}


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def problem(finding: dict[str, Any], account_id: str, region: str) -> str | None:
    """Why AWS refuses ``finding`` (None: it accepts it)."""
    missing = [name for name in REQUIRED if finding.get(name) in (None, "", [])]
    if missing:
        return f"Finding is missing required attributes: {', '.join(missing)}"
    if finding["AwsAccountId"] != account_id:
        return "AwsAccountId must be the account that calls BatchImportFindings"
    product = str(finding["ProductArn"])
    if not product.endswith(f":securityhub:{region}:{account_id}:product/{account_id}/default"):
        return f"ProductArn {product} is not a product this account can import findings to"
    if (finding.get("Severity") or {}).get("Label") not in _LABELS:
        return "Severity.Label must be one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL"
    status = (finding.get("Compliance") or {}).get("Status")
    if status is not None and status not in _COMPLIANCE:
        return f"Compliance.Status {status} is not valid"
    if finding.get("RecordState", "ACTIVE") not in _RECORD_STATES:
        return "RecordState must be ACTIVE or ARCHIVED"
    try:
        _time(finding["CreatedAt"])
        _time(finding["UpdatedAt"])
    except ValueError:
        return "CreatedAt and UpdatedAt must be ISO 8601 timestamps"
    return None


def _resolved(stored: dict[str, Any], update: dict[str, Any]) -> bool:
    archived = stored.get("RecordState") == "ACTIVE" and update.get("RecordState") == "ARCHIVED"
    passed = (stored.get("Compliance") or {}).get("Status") != "PASSED" and (
        update.get("Compliance") or {}
    ).get("Status") == "PASSED"
    return (archived or passed) and stored["Workflow"]["Status"] in ("NEW", "NOTIFIED")


def batch_import_findings(
    self: Any, findings: list[dict[str, Any]]
) -> tuple[int, int, list[dict[str, Any]]]:
    from moto.securityhub.exceptions import InvalidInputException
    from moto.securityhub.models import Finding

    if not 1 <= len(findings) <= MAX_FINDINGS:
        raise InvalidInputException(
            op="BatchImportFindings",
            msg=f"Findings must contain between 1 and {MAX_FINDINGS} findings",
        )
    failed: list[dict[str, Any]] = []
    succeeded = 0
    for data in findings:
        if not self.enabled:
            failed.append(
                {
                    "Id": data.get("Id", ""),
                    "ErrorCode": "InvalidAccess",
                    "ErrorMessage": "Account is not subscribed to AWS Security Hub",
                }
            )
            continue
        why = problem(data, self.account_id, self.region_name)
        if why is not None:
            failed.append(
                {"Id": data.get("Id", ""), "ErrorCode": "InvalidInput", "ErrorMessage": why}
            )
            continue
        succeeded += 1
        stored = next(
            (
                f
                for f in self.findings
                if f.id == data["Id"] and f.data.get("ProductArn") == data["ProductArn"]
            ),
            None,
        )
        if stored is None:
            self.findings.append(
                Finding(data["Id"], {**data, "Workflow": {"Status": "NEW"}, "WorkflowState": "NEW"})
            )
            continue
        if _time(data["UpdatedAt"]) <= _time(stored.data["UpdatedAt"]):
            continue  # not later than what is stored: Security Hub keeps what it has
        workflow = dict(stored.data["Workflow"])
        if _resolved(stored.data, data):
            workflow["Status"] = "RESOLVED"
        stored.data = {
            **data,
            "CreatedAt": stored.data["CreatedAt"],
            "Workflow": workflow,
            "WorkflowState": workflow["Status"],
        }
    return len(failed), succeeded, failed


def install() -> None:
    """Replace moto's BatchImportFindings (once per process)."""
    from moto.securityhub.models import SecurityHubBackend

    motopatch.replace(SecurityHubBackend, "batch_import_findings", batch_import_findings)
