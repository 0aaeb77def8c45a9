"""fleetpatch:skip in a batch's membership: who is excepted, and what the roster says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from fleetpatch import clock
from fleetpatch.membership import MemberState, roster

REGION = "eu-central-1"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class NoAgents:
    """SSM with no agent registered (moto's SSM has no DescribeInstanceInformation)."""

    def describe_instance_information(self, **_: object) -> dict[str, object]:
        return {"InstanceInformationList": []}


@pytest.fixture
def clients() -> Iterator[dict[str, object]]:
    clock.use(NOW.timestamp)
    with mock_aws():
        yield {
            "ec2": boto3.client("ec2", region_name=REGION),
            "ssm": NoAgents(),
            "autoscaling": boto3.client("autoscaling", region_name=REGION),
        }
    clock.use(None)


def launch(ec2: object, skip: str | None) -> str:
    tags = [{"Key": "Patch Group", "Value": "g1"}]
    if skip is not None:
        tags.append({"Key": "fleetpatch:skip", "Value": skip})
    response = ec2.run_instances(  # type: ignore[attr-defined]
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(response["Instances"][0]["InstanceId"])


def test_an_exception_that_applies_excepts_a_member_whatever_else_it_is(
    clients: dict[str, object],
) -> None:
    # Given members: excepted and running, excepted and stopped, expired, invalid, untagged
    ec2 = clients["ec2"]
    running = launch(ec2, "until=2026-12-31; reason=vendor freeze")
    stopped = launch(ec2, "until=2026-12-03; reason=last day")
    expired = launch(ec2, "until=2026-12-02; reason=over")
    invalid = launch(ec2, "until=soon; reason=x")
    plain = launch(ec2, None)
    ec2.stop_instances(InstanceIds=[stopped])  # type: ignore[attr-defined]
    # When the batch's roster is read (now: 2026-12-03 12:00 UTC)
    found = roster(["g1"], **clients)  # type: ignore[arg-type]
    states = {m.instance_id: (m.state, m.reason) for m in found.members}
    # Then the two whose exception applies (through its last day) are excepted, with why
    assert states[running] == (MemberState.EXCEPTED, "excepted until 2026-12-31: vendor freeze")
    assert states[stopped] == (MemberState.EXCEPTED, "excepted until 2026-12-03: last day")
    # And the expired and invalid ones are in their usual state (here: no SSM agent)
    for instance in (expired, invalid, plain):
        assert states[instance][0] is MemberState.NOT_MANAGED
    # And the roster says what each tag said; an untagged member is not in it
    assert {i: x.status for i, x in found.exceptions.items()} == {
        running: "applies",
        stopped: "applies",
        expired: "expired",
        invalid: "invalid",
    }
