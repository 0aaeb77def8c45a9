"""One deployment for an organization (issue 22): the packaged template by a StackSet.

`fleetpatch package --stackset` turns template.yaml into plain CloudFormation whose code
lives in per-region artifact buckets of the management account; a service-managed
StackSet deploys it to every account of an OU in two regions, and each account's own
control plane patches its own launches (and waves). An account created in the OU later
gets the stack instances by auto-deployment. The organization's clouds share one moto
state and run one at a time (localcloud.org).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fleetpatch_cli.package_cmd import upload
from fleetpatch_cli.stackset_template import build
from localcloud.cloud import REPO_ROOT
from localcloud.org.organization import Organization
from localcloud.recorder import Recorder
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import WINDOW, commands_on, wave_runs

REGIONS = ["eu-central-1", "eu-west-1"]
PREFIX = "acme-fleetpatch"
STACK_SET = "fleetpatch"
LINUX = "patch_test_0600_batch_1"


def _artifact_buckets(org: Organization) -> None:
    """The management account's artifact buckets, readable by the organization's accounts."""
    with org.using(org.management_account, REGIONS[0]):
        for region in REGIONS:
            s3 = boto3.client("s3", region_name=region)
            bucket = f"{PREFIX}-{region}"
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
            s3.put_bucket_policy(
                Bucket=bucket,
                Policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "OrganizationReadsCode",
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/*",
                                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org.id}},
                            }
                        ],
                    }
                ),
            )


def _package(org: Organization) -> str:
    """`fleetpatch package --stackset`'s build and upload; the TemplateURL."""
    package = build(REPO_ROOT / "template.yaml", allow_unbuilt=True)
    with org.using(org.management_account, REGIONS[0]):
        return upload(package, REGIONS, PREFIX, lambda r: boto3.client("s3", region_name=r))


def _launch(org: Organization, account: str, region: str) -> tuple[Deployed, str]:
    """An instance launched into the account's Auto Scaling group, settled; its id."""
    with org.using(account, region) as cloud:
        stack = org.stack_sets.stack(STACK_SET, account, region)
        deployed = Deployed(cloud, stack, Recorder(cloud))
        deployed.auto_scaling_group()
        [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
        cloud.settle(max_seconds=6 * 3600)
        return deployed, instance


def deploy_to_ou(org: Organization, url: str, ou: str, parameters: dict[str, str]) -> None:
    """A service-managed StackSet of the template at ``url``, with auto-deployment, and its
    instances in every account of ``ou`` in both regions."""
    org.stack_sets.create_stack_set(
        StackSetName=STACK_SET,
        TemplateURL=url,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    org.stack_sets.create_stack_instances(
        StackSetName=STACK_SET,
        DeploymentTargets={"OrganizationalUnitIds": [ou]},
        Regions=REGIONS,
    )


def _instances(org: Organization) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = org.stack_sets.list_stack_instances(StackSetName=STACK_SET)[
        "Summaries"
    ]
    return summaries


def test_a_stackset_deploys_the_packaged_template_to_every_account_of_the_ou() -> None:
    with Organization() as org:
        # Given an OU of three accounts, and the packaged template's code in the
        # management account's buckets of both regions
        ou = org.create_organizational_unit("workloads")
        members = [org.create_account(f"app-{n}", ou) for n in (1, 2, 3)]
        _artifact_buckets(org)
        url = _package(org)

        # When a service-managed StackSet deploys it to the OU in both regions
        deploy_to_ou(org, url, ou, {"ArtifactBucketPrefix": PREFIX})

        # Then every account and region has a current instance
        instances = _instances(org)
        assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
            (a, r) for a in members for r in REGIONS
        ), instances
        assert {i["Status"] for i in instances} == {"CURRENT"}, instances

        # When an instance launches in each account and region
        for account in members:
            for region in REGIONS:
                deployed, instance = _launch(org, account, region)
                # Then that account's control plane patched it, with its own resources, and
                # the functions that ran are the code unpacked from the artifact bucket
                with org.using(account, region):
                    execution = deployed.execution_for(instance)
                    assert execution["status"] == "SUCCEEDED", execution.get("cause")
                    assert execution["executionArn"].startswith(
                        f"arn:aws:states:{region}:{account}:"
                    )
                    assert deployed.lifecycle_result(instance) == "CONTINUE"
                stack = deployed.stack
                assert stack.physical_id("ArtifactsBucket").endswith(f"-{account}-{region}")
                code = stack.resources["PatchOnLaunchFunction"].local_path
                assert code is not None
                assert "localcloud-artifacts" in code.parts

        # When the test wave's window opens in one account
        account, region = members[0], REGIONS[1]
        with org.using(account, region) as cloud:
            assert cloud.fleet is not None
            assert cloud.windows is not None
            [host] = cloud.fleet.launch("UBUNTU", tags={"Patch Group": LINUX})
            cloud.settle(max_seconds=3600)
            cloud.windows.run_window(WINDOW)
            cloud.settle(max_seconds=24 * 3600)
            waved = Deployed(
                cloud, org.stack_sets.stack(STACK_SET, account, region), deployed.recorder
            )
            # Then its gated wave ran there and patched the host
            [run] = wave_runs(waved)
            assert run["executionArn"].startswith(f"arn:aws:states:{region}:{account}:")
            assert commands_on(waved, host)

        # When a fourth account is created in the OU
        fourth = org.create_account("app-4", ou)

        # Then auto-deployment gives it the stack in both regions, and it patches launches
        mine = [i for i in _instances(org) if i["Account"] == fourth]
        assert sorted(i["Region"] for i in mine) == REGIONS
        assert {i["Status"] for i in mine} == {"CURRENT"}, mine
        deployed, instance = _launch(org, fourth, REGIONS[0])
        with org.using(fourth, REGIONS[0]):
            assert deployed.execution_for(instance)["status"] == "SUCCEEDED"


def test_a_stackset_refuses_the_sam_template() -> None:
    with Organization() as org:
        # Given template.yaml as it is (the SAM transform), too big for a TemplateBody
        _artifact_buckets(org)
        with org.using(org.management_account, REGIONS[0]) as cloud:
            body = Path(REPO_ROOT / "template.yaml").read_bytes()
            cloud.client("s3").put_object(
                Bucket=f"{PREFIX}-{REGIONS[0]}", Key="sam.yaml", Body=body
            )
        url = f"https://{PREFIX}-{REGIONS[0]}.s3.{REGIONS[0]}.amazonaws.com/sam.yaml"

        # When it is given to a service-managed StackSet, Then CreateStackSet refuses it
        with pytest.raises(ClientError) as refused:
            org.stack_sets.create_stack_set(
                StackSetName=STACK_SET,
                TemplateURL=url,
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                PermissionModel="SERVICE_MANAGED",
                AutoDeployment={"Enabled": True},
            )
        assert refused.value.response["Error"] == {
            "Code": "ValidationError",
            "Message": "Transform is not supported in SERVICE_MANAGED permission model",
        }
