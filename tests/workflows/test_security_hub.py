"""Non-compliant instances as Security Hub findings, updated when they recover (issue 21).

The real template and handlers on the local cloud, with the policy's security_hub switch
on and Security Hub enabled in the account. Compliance events go through compliance-change
into the digest; the digest imports one finding per changed instance, 100 a call (the
local cloud refuses more, refuses findings AWS refuses, and enforces IAM on the product).
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch.security_hub import finding_id
from tests.workflows.conftest import Deployed
from tests.workflows.test_reports import compliance_event, sns_messages


def enable_security_hub(deployed: Deployed) -> None:
    """The operator's step (Security Hub in the account), and the policy's switch."""
    deployed.cloud.client("securityhub").enable_security_hub()
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.outputs["PolicyParameterName"]
    policy = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    policy["securityHub"] = {"enabled": True}
    ssm.put_parameter(
        Name=name, Value=json.dumps(policy, separators=(",", ":")), Type="String", Overwrite=True
    )


def findings(deployed: Deployed) -> dict[str, dict[str, Any]]:
    hub = deployed.cloud.client("securityhub")
    found: dict[str, dict[str, Any]] = {}
    for page in hub.get_paginator("get_findings").paginate():
        found |= {f["Id"]: f for f in page["Findings"]}
    return found


def imports(deployed: Deployed) -> list[dict[str, Any]]:
    """What each digest imported (publish-report's result: calls, imported, failed)."""
    function = deployed.stack.physical_id("PublishReportFunction")
    return [
        i.result["securityHub"]
        for i in deployed.cloud.lambdas.invocations
        if i.function_name == function and isinstance(i.result, dict) and "securityHub" in i.result
    ]


def test_drift_is_a_finding_and_recovery_updates_it(deployed: Deployed) -> None:
    # Given Security Hub on, and 150 instances that drift (an event storm, some twice)
    enable_security_hub(deployed)
    instances = [f"i-{n:017x}" for n in range(1, 151)]
    for instance in instances:
        compliance_event(deployed, instance, "non_compliant")
    for instance in instances[:30]:
        compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=2 * 3600)
    # Then one digest imported one finding per instance, in two calls (100 + 50), none refused
    [digest] = sns_messages(deployed, "compliance-digest")
    assert imports(deployed) == [{"calls": 2, "imported": 150, "failed": []}]
    assert digest["subject"] == "compliance digest: 150 instances drifted"
    found = findings(deployed)
    assert set(found) == {finding_id(i) for i in instances}
    first = found[finding_id(instances[0])]
    assert first["Compliance"]["Status"] == "FAILED"
    assert first["RecordState"] == "ACTIVE"
    assert first["Workflow"]["Status"] == "NEW"
    assert first["Severity"]["Label"] == "CRITICAL"
    assert first["ProductArn"] == (
        "arn:aws:securityhub:eu-central-1:123456789012:product/123456789012/default"
    )
    assert first["Resources"][0]["Id"] == (
        f"arn:aws:ec2:eu-central-1:123456789012:instance/{instances[0]}"
    )

    # When three recover
    for instance in instances[:3]:
        compliance_event(deployed, instance, "compliant")
    deployed.cloud.settle(max_seconds=2 * 3600)
    # Then their findings are updated in one call, not duplicated: PASSED, ARCHIVED, RESOLVED
    assert imports(deployed)[1:] == [{"calls": 1, "imported": 3, "failed": []}]
    after = findings(deployed)
    assert len(after) == 150
    for instance in instances[:3]:
        updated = after[finding_id(instance)]
        assert updated["Compliance"]["Status"] == "PASSED"
        assert updated["RecordState"] == "ARCHIVED"
        assert updated["Workflow"]["Status"] == "RESOLVED"
        assert updated["CreatedAt"] == found[finding_id(instance)]["CreatedAt"]
        assert updated["UpdatedAt"] > updated["CreatedAt"]
    assert after[finding_id(instances[3])]["Compliance"]["Status"] == "FAILED"
