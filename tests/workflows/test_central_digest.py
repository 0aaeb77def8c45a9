"""The organization's compliance digest (issue 22, docs/multi-account.md): once a day the
central stack's schedule sends ONE message on the central topic and ONE Slack post covering
every account and region, naming the silent ones; a member's own digest is no longer
announced centrally, and a repeated delivery of the schedule's tick sends nothing.

Only the central stack is deployed (central/template.yaml): the members' events are put on
its bus as a member's forwarding rule would deliver them (test_central_account.py shows the
forwarding itself). The local cloud runs one account here, so the two reporting members are
this account's eu-central-1 and eu-west-1; the silent account's last summary is filed in the
org index as its ingest did three days earlier. Enforced: the digest function's role (Query
on gsi1, GetItem, PutItem/UpdateItem on ORGDIGEST# items only, sns:Publish on the topic, the
central key through DynamoDB and SNS) and the scheduler role (lambda:InvokeFunction).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetpatch.contracts.org import central_stack_name
from fleetpatch.org_index import OrgIndex
from fleetpatch.shared_events import ComplianceSummary, GroupCount, RunFinished, entry
from localcloud.cloud import ACCOUNT_ID, REPO_ROOT, LocalCloud
from localcloud.deployer.deploy import deploy_template
from localcloud.deployer.stack import Stack
from localcloud.recorder import Recorder
from localcloud.slack import SlackWebhookReceiver

ORGANIZATION = "o-a1b2c3d4e5"
CENTRAL = REPO_ROOT / "central" / "template.yaml"
SLACK_SECRET = "fleetpatch/central/slack"
SILENT_ACCOUNT = "333333333333"


@dataclass
class Central:
    cloud: LocalCloud
    stack: Stack
    recorder: Recorder
    slack: SlackWebhookReceiver

    def topic_messages(self) -> list[dict[str, Any]]:
        topic = self.stack.outputs["ReportsTopicArn"]
        return [m for m in self.recorder.messages() if m.get("topic") == topic]

    def put(self, *details: RunFinished | ComplianceSummary) -> None:
        bus = self.stack.outputs["EventBusArn"]
        now = self.cloud.clock.now()
        self.cloud.client("events").put_events(
            Entries=[{**entry(d, at=now), "EventBusName": bus} for d in details]
        )

    def digest_invocations(self) -> list[Any]:
        return [
            i for i in self.cloud.lambdas.invocations if i.function_name.endswith("-central-digest")
        ]


@pytest.fixture
def central() -> Iterator[Central]:
    with LocalCloud(organization_id=ORGANIZATION) as cloud, SlackWebhookReceiver() as slack:
        recorder = Recorder(cloud)
        recorder.attach()
        stack = deploy_template(
            cloud,
            CENTRAL,
            {"OrganizationId": ORGANIZATION, "SlackWebhookSecret": SLACK_SECRET},
            stack_name=central_stack_name("default"),
        )
        cloud.client("secretsmanager").create_secret(
            Name=SLACK_SECRET, SecretString=json.dumps({"webhook_url": slack.url})
        )
        recorder.subscribe_to_topics()
        yield Central(cloud, stack, recorder, slack)


def _summary(region: str, compliant: int, non_compliant: int, as_of: datetime) -> ComplianceSummary:
    return ComplianceSummary(
        account=ACCOUNT_ID,
        region=region,
        stage="default",
        as_of=as_of,
        groups=[GroupCount(environment="prod", compliant=compliant, non_compliant=non_compliant)],
    )


def _run(
    region: str, run_id: str, kind: str, status: str, failed: int, ended: datetime
) -> RunFinished:
    return RunFinished(
        account=ACCOUNT_ID,
        region=region,
        stage="default",
        run_id=run_id,
        kind=kind,
        status=status,
        title=f"{kind} {run_id}",
        subject=f"{kind}: {status}",
        started_at=ended - timedelta(minutes=30),
        ended_at=ended,
        instances=4,
        failed=failed,
    )


def test_one_org_digest_a_day_names_every_account_and_region_and_the_silent_one(
    central: Central,
) -> None:
    cloud = central.cloud
    now = cloud.clock.now()
    # Given two members' compliance summaries (eu-central-1: 5 compliant, 2 not; eu-west-1:
    # 3 compliant, 0 not), a wave with a failed instance and a patched launch since, ...
    central.put(
        _summary("eu-central-1", 5, 2, now),
        _summary("eu-west-1", 3, 0, now),
        _run("eu-central-1", "wave-prod-1", "wave", "completed-with-failures", 1, now),
        _run("eu-west-1", "launch-i-1", "launch", "patched", 0, now),
        # ... a member's own compliance digest (filed, no longer announced per member) ...
        _run("eu-west-1", "digest-1", "compliance-digest", "drift", 0, now),
    )
    # ... and an account whose last summary was filed three days ago, silent since
    table = central.stack.outputs["OrgIndexTableName"]
    OrgIndex(cloud.client("dynamodb"), table, cloud.clock.time).record_compliance(
        _summary("us-east-1", 9, 1, now - timedelta(days=3)).model_copy(
            update={"account": SILENT_ACCOUNT}
        ),
        "earlier-delivery",
    )
    cloud.settle(max_seconds=600)
    # (the two runs are announced once each, as before; the member's digest is not)
    before = central.topic_messages()
    assert sorted(m["attributes"]["run"] for m in before) == ["launch-i-1", "wave-prod-1"]
    posts_before = len(central.slack.delivered)

    # When the day's schedule comes due (07:00 UTC)
    cloud.advance(24 * 3600)

    # Then exactly one message went on the central topic, covering every account and region
    [digest] = central.topic_messages()[len(before) :]
    assert digest["attributes"]["kind"] == "org-compliance-digest"
    assert digest["subject"].startswith("organization compliance digest ")
    assert "3 account/regions, 3 non-compliant, 1 silent" in digest["subject"]
    rows = {
        tuple(line.split()[:2]): line.split()[2:]
        for line in digest["message"].splitlines()
        if line[:12].isdigit()
    }
    assert rows == {
        (ACCOUNT_ID, "eu-central-1"): ["5", "2", "?", "1", "1"],
        (ACCOUNT_ID, "eu-west-1"): ["3", "0", "?", "1", "0"],
        (SILENT_ACCOUNT, "us-east-1"): ["9", "1", "?", "0", "0", "silent"],
    }
    assert (
        f"SILENT: no compliance summary for over 2 days (1):\n  {SILENT_ACCOUNT} us-east-1"
        in (digest["message"])
    )
    # ... and one Slack post, with every account and region
    [post] = central.slack.delivered[posts_before:]
    posted = "\n".join(b["text"]["text"] for b in post["blocks"] if b["type"] == "section")
    assert {tuple(line.split()[:2]) for line in posted.splitlines() if line[:12].isdigit()} == set(
        rows
    )
    assert post["text"] == digest["subject"]
    [invoked] = [i for i in central.digest_invocations() if i.error_type is None]
    assert invoked.result["duplicate"] is False

    # When the scheduler delivers the same tick again (at least once)
    again = cloud.lambdas.invoke(invoked.function_name, invoked.event)
    cloud.settle(max_seconds=600)

    # Then it sends nothing
    assert again.error_type is None, again.error_message
    assert again.result == {
        "day": invoked.result["day"],
        "duplicate": True,
        "messageId": invoked.result["messageId"],
    }
    assert len(central.topic_messages()) == len(before) + 1
    assert len(central.slack.delivered) == posts_before + 1
    assert datetime.fromisoformat(invoked.event["scheduledTime"]).astimezone(UTC).hour == 7
