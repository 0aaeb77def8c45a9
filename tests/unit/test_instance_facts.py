"""A report's instance names and operating systems: read in batches, never failing the report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch import instance_facts
from fleetpatch.instance_facts import (
    AGENTS_PER_CALL,
    TAGS_PER_CALL,
    InstanceFacts,
    describe,
    names,
    platforms,
)

REGION = "eu-central-1"


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def launch(ec2: Any, count: int, tags: dict[str, str] | None = None) -> list[str]:
    found = ec2.run_instances(
        ImageId="ami-04681a1dbd79675a5",
        MinCount=count,
        MaxCount=count,
        **(
            {
                "TagSpecifications": [
                    {
                        "ResourceType": "instance",
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    }
                ]
            }
            if tags
            else {}
        ),
    )
    return [i["InstanceId"] for i in found["Instances"]]


class Counting:
    """A client that counts its calls and the ids each asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.asked: list[list[str]] = []

    def describe_tags(self, **request: Any) -> Any:
        [ids] = [f["Values"] for f in request["Filters"] if f["Name"] == "resource-id"]
        self.asked.append(ids)
        return self._client.describe_tags(**request)


class Agents:
    """DescribeInstanceInformation as Systems Manager answers it: InvalidInstanceId for the
    whole call when one id is not a node it accepts, nothing for one it does not describe."""

    def __init__(self, managed: dict[str, tuple[str, str]], invalid: set[str] = frozenset()):  # type: ignore[assignment]
        self.managed = managed
        self.invalid = invalid
        self.asked: list[list[str]] = []

    def describe_instance_information(self, **request: Any) -> Any:
        [ids] = [f["Values"] for f in request["Filters"] if f["Key"] == "InstanceIds"]
        assert len(ids) <= AGENTS_PER_CALL
        assert request["MaxResults"] <= AGENTS_PER_CALL
        self.asked.append(ids)
        if self.invalid & set(ids):
            raise ClientError(
                {"Error": {"Code": "InvalidInstanceId", "Message": "not valid"}},
                "DescribeInstanceInformation",
            )
        return {
            "InstanceInformationList": [
                {"InstanceId": i, "PlatformName": n, "PlatformVersion": v}
                for i in ids
                if i in self.managed
                for n, v in [self.managed[i]]
            ]
        }


def test_names_are_read_in_batches_of_ids_and_an_untagged_instance_has_none(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given named instances and some without a Name tag (batches of 4 ids, not 200: fast)
    assert TAGS_PER_CALL == 200
    monkeypatch.setattr(instance_facts, "TAGS_PER_CALL", 4)
    named = launch(ec2, 5, {"Name": "web"})
    unnamed = launch(ec2, 2, {"Environment": "prod"})
    counting = Counting(ec2)

    # When their names are read
    found = names(counting, sorted(named + unnamed))

    # Then two calls (4 ids and 3) answered every named one, and no unnamed one
    assert [len(ids) for ids in counting.asked] == [4, 3]
    assert found == dict.fromkeys(named, "web")


def test_a_terminated_instance_has_no_name_and_fails_nothing(ec2: Any) -> None:
    [kept, gone] = launch(ec2, 2, {"Name": "db"})
    ec2.terminate_instances(InstanceIds=[gone])
    found = names(ec2, [kept, gone, "i-0000000000000dead"])
    assert kept in found
    assert "i-0000000000000dead" not in found


def test_operating_systems_are_read_50_ids_a_call() -> None:
    ids = [f"i-{n:017x}" for n in range(120)]
    agents = Agents({i: ("Amazon Linux", "2023") for i in ids[:100]})
    found = platforms(agents, ids)
    assert [len(a) for a in agents.asked] == [50, 50, 20]
    assert found == dict.fromkeys(ids[:100], "Amazon Linux 2023")


def test_an_id_systems_manager_refuses_leaves_only_that_one_unknown() -> None:
    ids = [f"i-{n:017x}" for n in range(50)]
    agents = Agents({i: ("Ubuntu", "22.04") for i in ids}, invalid={ids[17]})
    found = platforms(agents, ids)
    assert set(found) == set(ids) - {ids[17]}
    assert len(agents.asked) < 20  # halves, not one call per id


class Refusing:
    def __getattr__(self, name: str) -> Any:
        def refuse(**_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Describe"
            )

        return refuse


def test_a_refused_read_is_a_problem_for_the_report_not_a_failure(ec2: Any) -> None:
    [instance] = launch(ec2, 1, {"Name": "web-1"})
    found = describe(ec2, Refusing(), [instance, instance])
    assert found.facts == {instance: InstanceFacts("web-1", None)}
    assert found.problems == ["operating systems could not be read (AccessDeniedException: no)"]
    nothing = describe(Refusing(), Refusing(), [instance])
    assert (nothing.facts, len(nothing.problems)) == ({}, 2)
