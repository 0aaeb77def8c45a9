"""Many accounts and regions (docs/multi-account.md): one template, one stack per account
and region, each patching its own fleet; the organization's central account may subscribe
to every stack's reports topic.

The local cloud is one account and region at a time, so each (account, region) gets its
own cloud, as each gets its own stack in AWS. moto does not evaluate resource policies:
what the tests show about the topic policy is what was deployed, not who AWS would let in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.recorder import Recorder
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed

ORGANIZATION = "o-a1b2c3d4e5"


def _topic_policy(deployed: Deployed) -> dict[str, Any]:
    topic = deployed.stack.physical_id("ReportsTopic")
    attributes = deployed.cloud.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    policy: dict[str, Any] = json.loads(attributes["Policy"])
    return policy


@pytest.mark.parametrize(
    ("account_id", "region"),
    [("111111111111", "eu-west-1"), ("222222222222", "us-east-1")],
)
def test_a_member_account_and_region_patches_its_own_launches(account_id: str, region: str) -> None:
    # Given the template deployed as a StackSet instance (or pipeline stage) would deploy
    # it: another account and region, with the organization allowed to collect reports
    with LocalCloud(account_id=account_id, region=region) as cloud:
        recorder = Recorder(cloud)
        recorder.attach()
        stack = cloud.deploy(parameters={"ReportsOrganizationId": ORGANIZATION})
        recorder.subscribe_to_topics()
        deployed = Deployed(cloud, stack, recorder)

        # When an Auto Scaling group there launches an instance
        deployed.auto_scaling_group()
        [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
        cloud.settle(max_seconds=6 * 3600)

        # Then that account's control plane patched it, with that account's resources
        execution = deployed.execution_for(instance)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        assert execution["executionArn"].startswith(f"arn:aws:states:{region}:{account_id}:")
        assert deployed.lifecycle_result(instance) == "CONTINUE"
        bucket = stack.physical_id("ArtifactsBucket")
        assert bucket == f"fleetpatch-default-artifacts-{account_id}-{region}"
        assert stack.outputs["KeyArn"].startswith(f"arn:aws:kms:{region}:{account_id}:key/")
        # ... its report went to its own topic, which the organization may subscribe to
        assert deployed.messages_about(instance)
        [shared] = [
            s
            for s in _topic_policy(deployed)["Statement"]
            if s.get("Sid") == "AllowOrganizationToSubscribeQueuesAndFunctions"
        ]
        assert shared["Action"] == "sns:Subscribe"
        assert shared["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == ORGANIZATION


def test_a_single_account_deploy_shares_nothing(deployed: Deployed) -> None:
    # Given the default parameters (samconfig.toml, make demo): no organization
    statements = _topic_policy(deployed)["Statement"]

    # Then the topic policy denies insecure transport and lets only this account's own
    # alarms publish: no other account, no organization
    assert [s["Sid"] for s in statements] == [
        "DenyInsecureTransport",
        "AllowCloudWatchAlarmsToPublish",
    ]
    [alarms] = [s for s in statements if s["Sid"] == "AllowCloudWatchAlarmsToPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert deployed.stack.physical_id("ArtifactsBucket").endswith("-123456789012-eu-central-1")
