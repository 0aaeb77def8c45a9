"""The organization's central account (issue 22, docs/multi-account.md): a member stack
forwards its Run Finished and Compliance Summary events to the central bus and copies its
reports to the central bucket; the central stack (central/template.yaml) files them in the
org index, which ``fleetpatch runs|compliance|status --org`` read.

Both stacks are deployed in ONE local cloud (one account and region): the member's
parameters point at the central bus, bucket and key of the same account. The local cloud
runs one account per process until h-orgcloud's cross-account delivery is merged; the lead
switches these tests to a member and a central account of their own then. What is already
enforced here: the forwarding rule delivers as its role (assumed by EventBridge, allowed
events:PutEvents on the central bus only), the bus policy's aws:PrincipalOrgID is evaluated
against the cloud's organization, the member's role writes only under
accounts/<account>/<region>/ of the central bucket and encrypts with the central key, and
the ingest function may only put items in the org index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fleetpatch.contracts.org import RUN_FINISHED, SOURCE, central_stack_name
from fleetpatch_cli.main import main
from localcloud.cloud import ACCOUNT_ID, DEFAULT_REGION, REPO_ROOT, LocalCloud
from localcloud.deployer.deploy import deploy_template
from localcloud.deployer.stack import Stack
from localcloud.recorder import Recorder
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed
from tests.workflows.test_reports import compliance_event

ORGANIZATION = "o-a1b2c3d4e5"
CENTRAL = REPO_ROOT / "central" / "template.yaml"
SLACK_SECRET = "fleetpatch/central/slack"


@dataclass
class Organization:
    member: Deployed
    central: Stack

    @property
    def cloud(self) -> LocalCloud:
        return self.member.cloud

    def index_items(self) -> list[dict[str, Any]]:
        table = self.central.outputs["OrgIndexTableName"]
        return list(self.cloud.client("dynamodb").scan(TableName=table)["Items"])

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*argv, "--org", "--region", DEFAULT_REGION])
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture
def org() -> Iterator[Organization]:
    # Given the central stack, then a member stack configured with its outputs
    with LocalCloud(organization_id=ORGANIZATION) as cloud:
        recorder = Recorder(cloud)
        recorder.attach()
        central = deploy_template(
            cloud,
            CENTRAL,
            {"OrganizationId": ORGANIZATION, "SlackWebhookSecret": SLACK_SECRET},
            stack_name=central_stack_name("default"),
        )
        stack = cloud.deploy(
            parameters={
                "CentralEventBusArn": central.outputs["EventBusArn"],
                "CentralReportsBucket": central.outputs["ReportsBucketName"],
                "CentralReportsKeyArn": central.outputs["ReportsKeyArn"],
            }
        )
        recorder.subscribe_to_topics()
        yield Organization(Deployed(cloud, stack, recorder), central)


def test_a_member_launch_reaches_the_central_index_and_the_org_view(
    org: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the organization's Slack webhook, in the secret the central stack names
    with SlackWebhookReceiver() as slack:
        org.cloud.client("secretsmanager").create_secret(
            Name=SLACK_SECRET, SecretString=json.dumps({"webhook_url": slack.url})
        )
        # When an instance launches into the member's Auto Scaling group and is patched
        org.member.auto_scaling_group()
        [instance] = org.member.scale_out(Behaviour(agent_delay_seconds=30))
        org.cloud.settle(max_seconds=6 * 3600)
    execution = org.member.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")

    # Then its Run Finished event was forwarded and filed once in the org index, with the
    # member's account and region
    [item] = [i for i in org.index_items() if i["pk"]["S"].startswith("RUN#")]
    run_id = item["run_id"]["S"]
    assert instance in item["title"]["S"]
    assert (item["account"]["S"], item["region"]["S"]) == (ACCOUNT_ID, DEFAULT_REGION)
    assert item["kind"]["S"] == "launch"
    assert item["outcome"]["S"] == org.member.report(run_id)["outcome"]
    # ... and its report was copied to the central bucket, in the member's folder
    bucket = org.central.outputs["ReportsBucketName"]
    assert item["report_bucket"]["S"] == bucket
    json_key = item["json_key"]["S"]
    assert json_key == f"accounts/{ACCOUNT_ID}/{DEFAULT_REGION}/{org.member.report_keys(run_id)[0]}"
    copied = json.loads(
        org.cloud.client("s3").get_object(Bucket=bucket, Key=json_key)["Body"].read()
    )
    assert copied["run_id"] == run_id
    # ... and it was announced once for the organization: one message on the central topic
    # (account and region first) and one Slack post, built from the central copy
    topic = org.central.outputs["ReportsTopicArn"]
    [announced] = [m for m in org.member.messages() if m.get("topic") == topic]
    assert announced["subject"].startswith(f"[{ACCOUNT_ID} {DEFAULT_REGION}] ")
    assert announced["attributes"]["report"] == json_key
    [posted] = slack.delivered
    assert instance in posted["text"]

    # And the --org views show it with its account and region
    code, out, err = org.cli(capsys, "runs", "--since", "2000-01-01")
    assert code == 0, err
    [row] = [line for line in out.splitlines() if run_id in line]
    assert row.split()[2:4] == [ACCOUNT_ID, DEFAULT_REGION]
    assert "launch" in row.split()
    code, out, err = org.cli(capsys, "runs", "--since", "2000-01-01", "--json")
    assert [(r["account"], r["region"], r["run_id"]) for r in json.loads(out)] == [
        (ACCOUNT_ID, DEFAULT_REGION, run_id)
    ]
    code, out, err = org.cli(capsys, "report", run_id)
    assert code == 0, err
    assert f"Account: {ACCOUNT_ID}  Region: {DEFAULT_REGION}" in out
    assert instance in out
    code, out, err = org.cli(capsys, "status", "--since", "2000-01-01", "--json")
    assert code == 0, err
    [place] = json.loads(out)["accounts"]
    assert (place["account"], place["region"], place["runs"]) == (ACCOUNT_ID, DEFAULT_REGION, 1)


def test_a_compliance_digest_sends_the_member_summary_to_the_central_index(
    org: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    # When two instances drift and one is compliant, and the digest goes out
    for instance, status in (
        ("i-00000000000000001", "non_compliant"),
        ("i-00000000000000002", "non_compliant"),
        ("i-00000000000000003", "compliant"),
    ):
        compliance_event(org.member, instance, status)
    org.cloud.settle(max_seconds=2 * 3600)

    # Then the member's digest is not announced on the central topic (the organization's
    # daily digest, test_central_digest.py, covers every account once); it is filed as a run
    # from its central copy
    topic = org.central.outputs["ReportsTopicArn"]
    assert [m for m in org.member.messages() if m.get("topic") == topic] == []
    [digest] = [i for i in org.index_items() if i["pk"]["S"].startswith("RUN#")]
    assert digest["kind"]["S"] == "compliance-digest"
    assert digest["json_key"]["S"].startswith(f"accounts/{ACCOUNT_ID}/{DEFAULT_REGION}/")
    assert "message_id" not in digest
    # ... and the central index has the member's latest counts, shown by compliance --org
    [summary] = [i for i in org.index_items() if i["pk"]["S"].startswith("COMPLIANCE#")]
    assert (summary["account"]["S"], summary["region"]["S"]) == (ACCOUNT_ID, DEFAULT_REGION)
    assert (summary["compliant"]["N"], summary["non_compliant"]["N"]) == ("1", "2")
    code, out, err = org.cli(capsys, "compliance", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["total"] == {"instances": 3, "compliant": 1, "non_compliant": 2}
    assert {(g["account"], g["region"]) for g in shown["groups"]} == {(ACCOUNT_ID, DEFAULT_REGION)}


def test_a_repeated_delivery_is_filed_once_and_a_forged_account_is_refused(
    org: Organization,
) -> None:
    events = org.cloud.client("events")
    detail = {
        "schemaVersion": 1,
        "account": ACCOUNT_ID,
        "region": DEFAULT_REGION,
        "stage": "default",
        "runId": "wave-prod-20261205T050000Z",
        "kind": "wave",
        "status": "patched",
        "title": "prod wave",
        "subject": "prod wave: patched",
        "startedAt": "2026-12-05T05:00:00Z",
        "endedAt": "2026-12-05T06:00:00Z",
        "instances": 4,
        "failed": 0,
    }
    entry = {"Source": SOURCE, "DetailType": RUN_FINISHED, "Detail": json.dumps(detail)}
    # When EventBridge delivers the same event twice (as it may: at least once)
    events.put_events(Entries=[entry])
    events.put_events(Entries=[entry])
    # ... and an event claiming another account reaches the central bus
    forged = {**detail, "account": "999999999999", "runId": "forged"}
    events.put_events(
        Entries=[
            {
                **entry,
                "Detail": json.dumps(forged),
                "EventBusName": org.central.outputs["EventBusArn"],
            }
        ]
    )
    org.cloud.settle(max_seconds=3600)

    # Then the run is filed once, and the forged event is not filed: after Lambda's
    # retries it is in the ingest function's dead-letter queue, naming the field
    runs = [i for i in org.index_items() if i["pk"]["S"].startswith("RUN#")]
    assert [r["run_id"]["S"] for r in runs] == ["wave-prod-20261205T050000Z"]
    ingest = [
        i for i in org.cloud.lambdas.invocations if i.function_name.endswith("-central-ingest")
    ]
    filed = [i.result["filed"] for i in ingest if i.error_type is None]
    assert sorted(filed) == [False, True]
    assert {i.error_type for i in ingest if i.error_type} == {"InvalidEventError"}
    sqs = org.cloud.client("sqs")
    [dead] = sqs.receive_message(
        QueueUrl=org.central.outputs["IngestFunctionDeadLetterQueueUrl"], MaxNumberOfMessages=10
    )["Messages"]
    assert json.loads(dead["Body"])["detail"]["runId"] == "forged"
