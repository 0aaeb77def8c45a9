"""Emergencies on a fleet that does not hold still: hosts stopped before or during the run.

Systems Manager answers DescribeInstancePatches with InvalidInstanceId for a host that is not
a managed node now (stopped, terminated, deregistered). An emergency must still start, patch
every host it can reach, and name every affected host in its report, with why one was not
remediated.
"""

from __future__ import annotations

import pytest

from tests.workflows.conftest import Deployed
from tests.workflows.test_emergency import (
    emergency_fleet,
    finished,
    patch_commands,
    policy,
    start,
    state_of,
)


@pytest.fixture
def fleet(deployed: Deployed) -> dict[str, str]:
    return emergency_fleet(deployed)


def test_a_host_stopped_during_the_run_is_reported_not_remediated(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given an emergency run whose first batch (db) is baking behind the gate
    started = start(deployed, policy())
    deployed.cloud.advance(300)
    # When the affected web host is stopped before its batch
    web = fleet["web-al2023"]
    deployed.cloud.client("ec2").stop_instances(InstanceIds=[web])
    execution = finished(deployed, started["run"])
    # Then the run ends without it (nothing waits for a stopped host) ...
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert web not in {i for c in patch_commands(deployed) for i in c["InstanceIds"]}
    # ... and its report is stored, naming every affected host: two remediated, the
    # stopped one open, with why
    report = deployed.report(started["run"])
    text = str(report)
    assert "time to remediate: 2 met, 0 missed, 1 open of 3 instance(s)" in text
    assert f"{web} (AMAZON_LINUX_2023): not remediated" in text
    assert "no longer answers for it" in text


def test_an_affected_host_stopped_before_the_run_is_named_and_the_rest_patched(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given an affected db host stopped after its last scan (its patch state is still there)
    stopped = fleet["db-al2-b"]
    deployed.cloud.client("ec2").stop_instances(InstanceIds=[stopped])
    deployed.cloud.settle(max_seconds=600)
    # When an operator starts the emergency
    started = start(deployed, policy())
    execution = finished(deployed, started["run"])
    # Then the reachable hosts are patched ...
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert state_of(deployed, fleet["db-al2-a"], "curl.x86_64") == "INSTALLED"
    assert state_of(deployed, fleet["web-al2023"], "curl-minimal.x86_64") == "INSTALLED"
    # ... and the stopped one is in the report, not silently dropped
    text = str(deployed.report(started["run"]))
    assert stopped in text
    assert "no longer answers for it" in text
