"""``fleetpatch runs|report|compliance|status --org`` on a moto org index (issue 22).

The central stack's outputs come from a stub CloudFormation client (its answer shape is
DescribeStacks'); the org index and the reports bucket are moto's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch.contracts.org import central_stack_name
from fleetpatch.org_index import OrgIndex
from fleetpatch.shared_events import (
    ComplianceSummary,
    GroupCount,
    ReportLocation,
    RunFinished,
)
from fleetpatch_cli.main import build_parser
from fleetpatch_cli.org_cmd import run_org_command
from tests.unit.cli_reports.stage import launch_report
from tests.unit.conftest import create_state_table

REGION = "eu-central-1"
TABLE = "org-index"
BUCKET = "fleetpatch-default-central-reports-123456789012-eu-central-1"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
A, B = "111111111111", "222222222222"


class CloudFormation:
    """DescribeStacks of one stack (or none: the error CloudFormation answers)."""

    def __init__(self, outputs: dict[str, str] | None) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.outputs is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "Outputs": [
                        {"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()
                    ],
                }
            ]
        }


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield {
            "dynamodb": dynamodb,
            "s3": s3,
            "cloudformation": CloudFormation(
                {"OrgIndexTableName": TABLE, "ReportsBucketName": BUCKET}
            ),
        }


def run_finished(
    account: str, region: str, run_id: str, ended: datetime, **more: Any
) -> RunFinished:
    return RunFinished(
        account=account,
        region=region,
        stage="prod",
        run_id=run_id,
        kind=more.pop("kind", "launch"),
        status=more.pop("status", "patched"),
        title=f"launch of {run_id}",
        subject=f"launch of {run_id}: patched",
        started_at=ended - timedelta(minutes=5),
        ended_at=ended,
        instances=1,
        failed=0,
        **more,
    )


@pytest.fixture
def index(aws: dict[str, Any]) -> OrgIndex:
    index = OrgIndex(aws["dynamodb"], TABLE, NOW.timestamp)
    index.record_run(run_finished(A, "eu-west-1", "launch-a", NOW - timedelta(hours=1)), "e1")
    index.record_run(
        run_finished(B, "us-east-1", "wave-b", NOW - timedelta(hours=2), kind="wave"), "e2"
    )
    index.record_run(run_finished(B, "us-east-1", "old", NOW - timedelta(days=30)), "e3")
    index.record_compliance(
        ComplianceSummary(
            account=A,
            region="eu-west-1",
            stage="prod",
            as_of=NOW - timedelta(hours=1),
            groups=[
                GroupCount(environment="prod", patch_group="web", compliant=3, non_compliant=1)
            ],
        ),
        "e4",
    )
    return index


def cli(
    capsys: pytest.CaptureFixture[str], aws: dict[str, Any], *argv: str
) -> tuple[int, str, str]:
    args = build_parser().parse_args([*argv, "--org", "--region", REGION])
    code = run_org_command(args, clients=lambda service: aws[service], now=NOW)
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_org_lists_every_account_and_region_newest_first(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, aws, "runs")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["ended", "(UTC)", "account", "region", "kind", "run"]
    assert [row.split()[2:6] for row in rows] == [
        [A, "eu-west-1", "launch", "launch-a"],
        [B, "us-east-1", "wave", "wave-b"],
    ]  # "old" ended 30 days ago: outside the default week


def test_runs_org_json_and_kind(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, aws, "runs", "--kind", "wave", "--json")
    assert code == 0
    [run] = json.loads(out)
    assert (run["account"], run["region"], run["run_id"]) == (B, "us-east-1", "wave-b")
    assert "pk" not in run
    assert "event_id" not in run


def test_without_a_central_stack_the_error_says_what_to_deploy(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    aws["cloudformation"] = CloudFormation(None)
    code, out, err = cli(capsys, aws, "runs")
    assert (code, out) == (2, "")
    assert err.startswith(
        f"fleetpatch runs: no central stack {central_stack_name('default')} in this account"
    )
    assert "central/template.yaml" in err


def test_compliance_org_counts_per_account_and_region(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, aws, "compliance", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["total"] == {"instances": 4, "compliant": 3, "non_compliant": 1}
    [group] = shown["groups"]
    assert (group["account"], group["region"], group["patch_group"]) == (A, "eu-west-1", "web")
    code, out, _ = cli(capsys, aws, "compliance")
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith(A)]
    assert row.split()[:6] == [A, "eu-west-1", "prod", "web", "3", "1"]


def test_report_org_reads_the_central_copy_and_names_the_account(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    report = launch_report("launch-c", NOW - timedelta(minutes=10))
    key = f"accounts/{A}/eu-west-1/reports/launch-c.json"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=report.model_dump_json())
    location = ReportLocation(bucket=BUCKET, json_key=key, html_key=key[:-4] + "html")
    index.record_run(run_finished(A, "eu-west-1", "launch-c", NOW, report=location), "e5")
    code, out, err = cli(capsys, aws, "report", "launch-c")
    assert (code, err) == (0, "")
    assert out.startswith(f"Account: {A}  Region: eu-west-1\n")
    assert "i-0ccccccccccccccc1" in out


def test_report_org_asks_which_account_when_a_run_id_is_in_two(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    index.record_run(run_finished(B, "us-east-1", "launch-a", NOW), "e6")
    code, _, err = cli(capsys, aws, "report", "launch-a")
    assert code == 2
    assert "pass --account and --in-region" in err
    code, out, err = cli(capsys, aws, "report", "launch-a", "--account", B)
    # Found, but its report was not stored: the index entry is printed, and exit 1
    assert code == 1
    assert json.loads(out)["account"] == B


def test_status_org_one_line_per_account_and_region(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, aws, "status", "--json")
    assert code == 0
    places = json.loads(out)["accounts"]
    assert [(p["account"], p["region"], p["runs"], p["compliant"]) for p in places] == [
        (A, "eu-west-1", 1, 3),
        (B, "us-east-1", 1, None),
    ]


def test_without_org_the_commands_are_unchanged() -> None:
    args = build_parser().parse_args(["runs"])
    assert isinstance(args, argparse.Namespace)
    assert args.org is False
    assert args.func.__name__ == "command"  # dispatches to the single-account command


def test_status_org_on_screen(
    index: OrgIndex, aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, aws, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"fleetpatch organization ({central_stack_name('default')})"
    [a] = [line for line in lines if line.startswith(A)]
    assert a.split()[:4] == [A, "eu-west-1", "1", "1"]
    assert a.endswith("3 compliant, 1 non-compliant")
    [b] = [line for line in lines if line.startswith(B)]
    assert b.split()[:3] == [B, "us-east-1", "1"]
    assert b.endswith("-")
