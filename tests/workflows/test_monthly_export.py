"""The stack's monthly audit export on the local cloud (issue 21, part 5).

The template's EventBridge Scheduler schedule (cron, 1st of the month 03:00 UTC) fires on
the simulated clock and invokes monthly-export as its role; the function writes the
previous month's CSV and summary under audit/YYYY/MM/ with S3 conditional writes. A second
trigger for the same month writes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from fleetpatch.audit_export import COLUMNS
from fleetpatch.contracts.s3 import audit_export_keys
from tests.workflows.conftest import Deployed
from tests.workflows.test_wave_exclusions import LINUX, run_window


def versions(deployed: Deployed, bucket: str, key: str) -> list[str]:
    listed = deployed.cloud.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key]


def test_the_schedule_exports_last_month_once(deployed: Deployed) -> None:
    # Given a wave that patched a host this month
    fleet = deployed.cloud.fleet
    assert fleet is not None
    [db] = fleet.launch("AMAZON_LINUX_2023", tags={"Name": "db", "Patch Group": LINUX})
    deployed.cloud.settle(max_seconds=3600)
    report = run_window(deployed)
    month = deployed.cloud.clock.now().astimezone(UTC)
    # When the clock passes 03:00 UTC on the 1st of next month
    first = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, 3, tzinfo=UTC)
    deployed.cloud.advance((first - deployed.cloud.clock.now()).total_seconds() + 600)
    # Then the schedule ran the export, which wrote this month's CSV and summary
    bucket = deployed.stack.outputs["ArtifactsBucketName"]
    csv_key, summary_key = audit_export_keys(month.year, month.month)
    s3 = deployed.cloud.client("s3")
    head = s3.head_object(Bucket=bucket, Key=csv_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    text = s3.get_object(Bucket=bucket, Key=csv_key)["Body"].read().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    installed = [r for r in rows if r["instance_id"] == db and r["state"] == "Installed"]
    assert installed
    assert {r["run_id"] for r in installed} == {report["run_id"]}
    summary = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    assert summary["since"] == f"{month.year:04d}-{month.month:02d}-01T00:00:00Z"
    assert summary["rows"] == len(rows)
    function = deployed.stack.outputs["MonthlyExportFunctionName"]
    runs = [i for i in deployed.cloud.lambdas.invocations if i.function_name == function]
    assert [r.error_type for r in runs] == [None]
    assert runs[0].result["written"] == [csv_key, summary_key]

    # When the same month is triggered again (a retry, an operator's re-run)
    again = deployed.cloud.client("lambda").invoke(
        FunctionName=function,
        Payload=json.dumps({"scheduledTime": first.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode(),
    )
    result = json.loads(again["Payload"].read())
    # Then nothing is written: one version of each object, the same content
    assert result["written"] == []
    assert result["duplicate"] is True
    assert len(versions(deployed, bucket, csv_key)) == 1
    assert len(versions(deployed, bucket, summary_key)) == 1
    after = s3.get_object(Bucket=bucket, Key=csv_key)["Body"].read().decode("utf-8")
    assert after == text
