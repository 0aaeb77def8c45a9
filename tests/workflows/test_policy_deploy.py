"""The rendered fleet policy, deployed by template.yaml into the local cloud, and the plan.

Asserts on AWS state (baselines registered per patch group and OS, windows, targets,
tasks, the compiled policy parameter), on a window run of the rendered task against the
demo fleet, and on ``fleetpatch plan`` over the demo fleet.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fleetpatch.contracts.s3 import wave_output_prefix
from fleetpatch_cli.main import main
from fleetpatch_cli.policy_cmd import load_policy
from fleetpatch_cli.scenario_file import load_scenario
from localcloud.runner import build_fleet
from tests.workflows.conftest import Deployed

REPO = Path(__file__).parents[2]
DEMO = REPO / "scenarios" / "demo.yaml"
POLICY = load_policy(REPO / "policy" / "fleet.yaml")
LINUX = {"REDHAT_ENTERPRISE_LINUX", "UBUNTU", "AMAZON_LINUX_2023", "CENTOS", "SUSE"}


def test_baselines_are_registered_for_each_patch_group_and_os(deployed: Deployed) -> None:
    ssm = deployed.cloud.client("ssm")
    for env_name, environment in POLICY.environments.items():
        for group in environment.patch_groups:
            for os_name in environment.baselines:
                baseline_id = ssm.get_patch_baseline_for_patch_group(
                    PatchGroup=group, OperatingSystem=os_name
                )["BaselineId"]
                baseline = ssm.get_patch_baseline(BaselineId=baseline_id)
                slug = os_name.lower().replace("_", "-")
                assert baseline["Name"] == f"fleetpatch-default-{env_name}-{slug}"
                assert baseline["OperatingSystem"] == os_name
                days = {r["ApproveAfterDays"] for r in baseline["ApprovalRules"]["PatchRules"]}
                assert days == {0 if env_name == "test" else 14}
    al_prod = ssm.get_patch_baseline(
        BaselineId=ssm.get_patch_baseline_for_patch_group(
            PatchGroup="patch_prod_0600_batch_1", OperatingSystem="AMAZON_LINUX_2023"
        )["BaselineId"]
    )
    assert al_prod["RejectedPatches"] == ["system-release.*"]
    assert al_prod["RejectedPatchesAction"] == "BLOCK"


def test_each_wave_has_a_window_for_its_first_batch(deployed: Deployed) -> None:
    ssm = deployed.cloud.client("ssm")
    windows = {w["Name"]: w for w in ssm.describe_maintenance_windows()["WindowIdentities"]}
    assert set(windows) == {
        "fleetpatch-default-wave-test",
        "fleetpatch-default-wave-prod",
        "fleetpatch-default-wave-web",
    }
    prod = windows["fleetpatch-default-wave-prod"]
    assert (prod["Schedule"], prod["ScheduleTimezone"]) == (
        "cron(0 6 ? * SAT#3 *)",
        "Europe/Zurich",
    )
    assert (prod["Duration"], prod["Cutoff"]) == (4, 1)
    # The window patches nothing itself: no targets, one LAMBDA task that starts the run.
    assert ssm.describe_maintenance_window_targets(WindowId=prod["WindowId"])["Targets"] == []
    [task] = ssm.describe_maintenance_window_tasks(WindowId=prod["WindowId"])["Tasks"]
    detail = ssm.get_maintenance_window_task(
        WindowId=prod["WindowId"], WindowTaskId=task["WindowTaskId"]
    )
    assert detail["TaskType"] == "LAMBDA"
    assert detail["TaskArn"].endswith(":function:fleetpatch-default-batch-gate")
    assert detail["ServiceRoleArn"].endswith("WindowTaskRole") or "WindowTaskRole" in str(
        detail["ServiceRoleArn"]
    )
    tags = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=prod["WindowId"])
    assert {"Key": "fleetpatch:stage", "Value": "default"} in tags["TagList"]


def test_the_compiled_policy_reaches_the_control_plane(deployed: Deployed) -> None:
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.output("PolicyParameterName")
    assert name == "/fleetpatch/default/policy"
    stored = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    assert stored == POLICY.runtime().model_dump(mode="json", by_alias=True)
    function = deployed.cloud.client("lambda").get_function_configuration(
        FunctionName=deployed.stack.function_name("PatchOnLaunchFunction")
    )
    launch = json.loads(function["Environment"]["Variables"]["FLEETPATCH_LAUNCH_POLICY"])
    assert launch == POLICY.launch.launch_policy().model_dump(by_alias=True)


def test_the_rendered_window_patches_exactly_the_first_batch(deployed: Deployed) -> None:
    build_fleet(deployed.cloud, load_scenario(DEMO))
    deployed.cloud.settle(max_seconds=3600)  # agents come online
    ec2 = deployed.cloud.client("ec2")
    names = {
        i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]}["Name"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    execution_id = deployed.cloud.windows.run_window("fleetpatch-default-wave-test")
    deployed.cloud.settle(max_seconds=6 * 3600)

    ssm = deployed.cloud.client("ssm")
    execution = ssm.get_maintenance_window_execution(WindowExecutionId=execution_id)
    assert execution["Status"] == "SUCCESS", execution
    # The window's run patched the first batch: exactly its members, by the control plane.
    commands = [
        c
        for c in ssm.list_commands()["Commands"]
        if c["Comment"].startswith("fleetpatch wave test batch linux-databases")
    ]
    patched = sorted(names[i] for c in commands for i in c["InstanceIds"])
    assert patched == sorted(
        ["db-test-rhel", "app-test-ubuntu", "web-test-al2023", "build-test-centos", "sap-test-suse"]
    )
    # the commands wrote their output where the run said
    s3 = deployed.cloud.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(
            Bucket=deployed.stack.physical_id("ArtifactsBucket"),
            Prefix=f"{wave_output_prefix('test', 'linux-databases')}/",
        ).get("Contents", [])
    ]
    assert {k.split("/")[5] for k in keys} == {i for c in commands for i in c["InstanceIds"]}


def test_plan_lists_the_demo_fleet_in_its_batches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--local-fleet", str(DEMO), "--json", "--at", "2026-11-23T00:00:00Z"]) == 0
    plan = json.loads(capsys.readouterr().out)
    by_wave = {w["wave"]: w for w in plan["waves"]}
    assert [r["local"] for r in by_wave["test"]["nextRuns"]] == [
        "2026-12-05T06:00:00+01:00",
        "2027-01-02T06:00:00+01:00",
        "2027-02-06T06:00:00+01:00",
    ]
    assert by_wave["prod"]["nextRuns"][0]["utc"] == "2026-12-19T05:00:00+00:00"
    placed = 0
    for wave in ("test", "prod"):
        linux, windows = by_wave[wave]["batches"]
        assert (linux["batch"], windows["batch"]) == ("linux-databases", "windows-apps")
        assert {i["operatingSystem"] for i in linux["instances"]} == LINUX
        assert [i["operatingSystem"] for i in windows["instances"]] == ["WINDOWS"]
        assert {i["environment"] for i in linux["instances"] + windows["instances"]} == {wave}
        assert windows["instances"][0]["baseline"] == f"fleetpatch-default-{wave}-windows"
        assert windows["starts"] == "after the gate on linux-databases"
        placed += len(linux["instances"]) + len(windows["instances"])
    assert placed == 12
    assert plan["notPatched"] == []


def test_plan_says_why_an_instance_is_not_patched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "fleet.yaml"
    scenario.write_text(
        """
name: strays
start: 2026-11-23T00:00:00Z
fleet:
  - {name: untagged, os: UBUNTU}
  - {name: unknown-group, os: UBUNTU, tags: {Patch Group: patch_qa_0600_batch_1}}
  - {name: two-groups, os: UBUNTU, tags: {Patch Group: patch_test_0600_batch_1, PatchGroup: patch_prod_0600_batch_1}}
  - {name: no-agent, os: SUSE, tags: {Patch Group: patch_test_0600_batch_1}, behaviour: {never_online: true}}
  - {name: metadata-tag, os: CENTOS, tags: {PatchGroup: patch_test_0600_batch_1}}
steps: []
"""
    )
    assert main(["plan", "--local-fleet", str(scenario), "--json", "--wave", "test"]) == 0
    plan = json.loads(capsys.readouterr().out)
    reasons = {n["name"]: n["reason"] for n in plan["notPatched"]}
    assert reasons["untagged"].startswith("no patch group")
    assert reasons["unknown-group"] == (
        "patch group patch_qa_0600_batch_1 is not in the policy (no environment lists it)"
    )
    assert "both 'Patch Group' and 'PatchGroup'" in reasons["two-groups"]
    assert reasons["no-agent"].startswith("not a managed instance")
    [batch_1, _] = plan["waves"][0]["batches"]
    assert [(i["name"], i["tagKey"]) for i in batch_1["instances"]] == [
        ("metadata-tag", "PatchGroup")
    ]


def test_the_policy_the_stack_was_rendered_from_is_the_checked_in_one(deployed: Deployed) -> None:
    digest = hashlib.sha256((REPO / "policy" / "fleet.yaml").read_bytes()).hexdigest()
    assert deployed.stack.output("PolicySha256") == digest
