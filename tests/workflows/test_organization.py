"""Issue 22, end to end: the packaged template deployed by a StackSet to the accounts of an
OU in two regions, each member forwarding to the organization's central account, and one
view of every run (``fleetpatch runs --org``) with each run's account and region.

Each (account, region) is its own local cloud in one organization (localcloud.org); events
a member forwards to the central bus wait there until the central account's cloud runs, as
they would in flight. IAM is enforced across accounts: the forwarding role's
events:PutEvents and the bus policy's aws:PrincipalOrgID, the members' s3:PutObject under
their own folder of the central bucket and the bucket's and key's policies.
"""

from __future__ import annotations

import json

import pytest

from fleetpatch.contracts.org import central_stack_name
from fleetpatch_cli.main import main
from localcloud.cloud import REPO_ROOT
from localcloud.deployer.deploy import deploy_template
from localcloud.org.organization import Organization
from tests.workflows.test_stackset import (
    PREFIX,
    REGIONS,
    _artifact_buckets,
    _launch,
    _package,
    deploy_to_ou,
)

CENTRAL_TEMPLATE = REPO_ROOT / "central" / "template.yaml"
HOME = REGIONS[0]


def test_runs_org_lists_every_member_accounts_runs_in_both_regions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Organization() as org:
        # Given a central account with the central stack, and an OU of three member accounts
        central = org.create_account("central")
        ou = org.create_organizational_unit("workloads")
        members = [org.create_account(f"app-{n}", ou) for n in (1, 2, 3)]
        with org.using(central, HOME) as cloud:
            hub = deploy_template(
                cloud,
                CENTRAL_TEMPLATE,
                {"OrganizationId": org.id},
                stack_name=central_stack_name("default"),
            )
        # ... and the packaged template deployed to the OU in two regions by a StackSet,
        # pointed at the central bus, bucket and key
        _artifact_buckets(org)
        url = _package(org)
        overrides = {
            "ArtifactBucketPrefix": PREFIX,
            "CentralEventBusArn": hub.outputs["EventBusArn"],
            "CentralReportsBucket": hub.outputs["ReportsBucketName"],
            "CentralReportsKeyArn": hub.outputs["ReportsKeyArn"],
        }
        deploy_to_ou(org, url, ou, overrides)

        # When an instance launches in every member account and region
        launched = {}
        for account in members:
            for region in REGIONS:
                deployed, instance = _launch(org, account, region)
                with org.using(account, region):
                    execution = deployed.execution_for(instance)
                    assert execution["status"] == "SUCCEEDED", execution.get("cause")
                launched[(account, region)] = instance
        # ... each run's Run Finished event is on its way to the central bus
        assert len(org.pending(central, HOME)) >= len(launched)

        # Then, once the central account has received them, `fleetpatch runs --org` run
        # there lists a run of every member account and region, with its account and region
        with org.using(central, HOME) as cloud:
            cloud.settle(max_seconds=3600)
            capsys.readouterr()
            code = main(["runs", "--org", "--since", "2000-01-01", "--json", "--region", HOME])
            out, err = capsys.readouterr()
            assert code == 0, err
            rows = json.loads(out)
            assert {(r["account"], r["region"]) for r in rows} == set(launched)
            for (account, region), instance in launched.items():
                [row] = [r for r in rows if (r["account"], r["region"]) == (account, region)]
                assert row["kind"] == "launch"
                assert instance in row["title"]
            # ... each report copied into the member's own folder of the central bucket
            bucket = hub.outputs["ReportsBucketName"]
            listed = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix="accounts/")
            folders = {tuple(o["Key"].split("/")[1:3]) for o in listed.get("Contents", [])}
            assert folders == set(launched)
            # ... and the table view names account and region on each run's line
            code = main(["runs", "--org", "--since", "2000-01-01", "--region", HOME])
            out, err = capsys.readouterr()
            assert code == 0, err
            for account, region in launched:
                assert any(account in line and region in line for line in out.splitlines())
