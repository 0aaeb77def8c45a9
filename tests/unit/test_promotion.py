"""Exact promotion: a run that installed nothing keeps the lists; a promoted run names its list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts.s3 import override_list_key
from fleetpatch.promotion import list_note, record_lists

BUCKET = "artifacts"
KB = ("KB5046616", "2026-11 Cumulative Update (KB5046616)")
ASL = Path(__file__).parents[2] / "statemachines" / "gated_wave.asl.json"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-central-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        yield client


def record(s3: Any, run_id: str, installed: dict[str, list[tuple[str, str]]]) -> Any:
    return record_lists(
        s3, BUCKET, source_wave="test", run_id=run_id, promotions=["prod"], installed=installed
    )


def test_a_run_that_installed_nothing_leaves_the_list_as_it_was(s3: Any) -> None:
    first = record(s3, "test-1", {"i-1": [KB]})
    again = record(s3, "test-2", {"i-1": [], "i-2": []})

    assert (first.kept, first.patches, again.kept, again.patches) == (False, 1, True, 0)
    head = s3.head_object(Bucket=BUCKET, Key=override_list_key("prod"))
    assert head["Metadata"] == {"source-wave": "test", "source-run": "test-1"}
    assert again.as_dict(["prod"]) == {
        "patches": 0,
        "instances": 2,
        "locations": [f"s3://{BUCKET}/{override_list_key('prod')}"],
        "kept": True,
        "note": "this run installed nothing: the patch list of prod is kept as it was",
    }
    assert "note" not in first.as_dict(["prod"])


def test_a_promoted_run_names_the_list_it_installs_or_that_there_is_none(s3: Any) -> None:
    started = datetime.now(UTC) - timedelta(hours=1)
    missing = list_note(s3, BUCKET, wave="prod", source_wave="test", run_started_at=started)
    record(s3, "test-1", {"i-1": [KB]})
    recorded = s3.head_object(Bucket=BUCKET, Key=override_list_key("prod"))["LastModified"]
    found = list_note(s3, BUCKET, wave="prod", source_wave="test", run_started_at=started)
    before = list_note(
        s3, BUCKET, wave="prod", source_wave="test", run_started_at=recorded + timedelta(1)
    )

    location = f"s3://{BUCKET}/{override_list_key('prod')}"
    assert missing == (
        f"no patch list from test: {location} does not exist (no test run has recorded one), "
        "so this run had nothing to install"
    )
    stamp = recorded.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert before == f"patch list from test run test-1, recorded {stamp}: {location}"
    assert found == (
        f"patch list from test run test-1, recorded {stamp} (after this run started: its "
        f"earlier batches may have installed the list before): {location}"
    )


def test_the_workflow_spells_the_list_key_as_its_owner_does() -> None:
    # The ASL cannot import: its PatchBatch builds the key from the wave's name.
    definition = json.loads(ASL.read_text())
    expression = definition["States"]["PatchBatch"]["Arguments"]["Payload"]["installOverrideList"]
    key = override_list_key("' & $wave & '")  # the wave's name, spliced into the string
    assert f"'s3://${{ArtifactsBucketName}}/{key}'" in expression


def test_the_list_names_the_members_an_exception_left_out(s3: Any) -> None:
    # Given a source wave with one member excepted by fleetpatch:skip until next year, one
    # whose exception expired, and one without
    from fleetpatch.services.waves import excepted_members

    ec2 = boto3.client("ec2", region_name="eu-central-1")
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=3, MaxCount=3)["Instances"]
    ]
    now = datetime(2026, 12, 5, tzinfo=UTC)
    ec2.create_tags(
        Resources=[ids[0]],
        Tags=[{"Key": "fleetpatch:skip", "Value": "until=2027-01-31; reason=vendor INC-1"}],
    )
    ec2.create_tags(
        Resources=[ids[1]], Tags=[{"Key": "fleetpatch:skip", "Value": "until=2026-12-01; reason=x"}]
    )
    # When the promotion list is recorded
    excepted = excepted_members(ec2, ids, now)
    recorded = record_lists(
        s3,
        BUCKET,
        source_wave="test",
        run_id="wave-1",
        promotions=["prod"],
        installed={ids[2]: [KB]},
        excepted=excepted,
    )
    # Then the excepted member is named (in the list and in the result); the expired one is not
    assert excepted == {ids[0]: "excepted until 2027-01-31: vendor INC-1"}
    assert recorded.as_dict(["prod"])["excepted"] == excepted
    body = s3.get_object(Bucket=BUCKET, Key=override_list_key("prod"))["Body"].read().decode()
    assert (
        f"# not from {ids[0]} (excepted until 2027-01-31: vendor INC-1): excepted by "
        "fleetpatch:skip, not patched"
    ) in body.splitlines()
    assert ids[1] not in body
