"""A policy exclusion keeps a package off a wave's hosts until its date (issue 21, part 2).

The real template, ASL and handlers on the local cloud, the wave started by its window as
in production. The exclusion is in the deployed compiled policy; the wave's start syncs the
environment's baselines (``ssm:UpdatePatchBaseline``, IAM enforced) and Patch Manager's
own RejectedPatches keeps the package off. After the exclusion's last UTC day (by the
simulated clock) the next wave installs it, and its report says the exclusion expired, once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import WINDOW, wave_runs

LINUX = "patch_test_0600_batch_1"
WINDOWS = "patch_test_0600_batch_2"
PACKAGE = "openssl-libs.x86_64"  # in the simulated AL2023 catalogue, approved in test


def exclude_openssl(deployed: Deployed, until: str) -> None:
    """Deploy the policy with an exclusion, as `fleetpatch policy render` compiles one."""
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.outputs["PolicyParameterName"]
    policy = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    policy["exclusions"] = [
        {
            "patches": ["openssl*"],
            "environments": ["test"],
            "operatingSystems": ["AMAZON_LINUX_2023"],
            "until": until,
            "reason": "vendor pin, ticket OPS-123",
        }
    ]
    ssm.put_parameter(
        Name=name, Value=json.dumps(policy, separators=(",", ":")), Type="String", Overwrite=True
    )


def state_of(deployed: Deployed, instance: str, kb_id: str) -> str | None:
    patches = deployed.cloud.client("ssm").describe_instance_patches(InstanceId=instance)
    found = [p["State"] for p in patches["Patches"] if p["KBId"] == kb_id]
    return found[0] if found else None


def run_window(deployed: Deployed) -> dict[str, Any]:
    assert deployed.cloud.windows is not None
    execution_id = deployed.cloud.windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=24 * 3600)
    [run] = [r for r in wave_runs(deployed) if r["name"] == f"wave-{execution_id}"]
    assert run["status"] == "SUCCEEDED", run.get("cause")
    return deployed.report(run["name"])


def exclusion_notes(report: dict[str, Any]) -> list[str]:
    return [n for n in report["notes"] if n.startswith("exclusion")]


def test_an_exclusion_keeps_a_package_off_until_it_expires(deployed: Deployed) -> None:
    # Given an Amazon Linux 2023 host and a Windows host in the test wave, and an exclusion
    # of openssl* in test through today (UTC, simulated clock)
    fleet = deployed.cloud.fleet
    assert fleet is not None
    [host] = fleet.launch("AMAZON_LINUX_2023", tags={"Name": "db", "Patch Group": LINUX})
    fleet.launch("WINDOWS", tags={"Name": "app", "Patch Group": WINDOWS})
    deployed.cloud.settle(max_seconds=3600)
    today = deployed.cloud.clock.now().date()
    exclude_openssl(deployed, today.isoformat())
    # When the wave's window opens
    first = run_window(deployed)
    # Then the host was patched, but not with openssl: the baseline rejects it
    assert state_of(deployed, host, "curl-minimal.x86_64") == "INSTALLED"
    assert state_of(deployed, host, PACKAGE) != "INSTALLED"
    baseline = _test_al2023_baseline(deployed)
    assert baseline["RejectedPatches"] == ["system-release.*", "openssl*"]
    # And the report lists the exclusion that applied
    assert exclusion_notes(first) == [
        f"exclusion applied (test): openssl* until {today}: vendor pin, ticket OPS-123"
    ]

    # Given the exclusion's last day has passed (no redeploy)
    deployed.cloud.advance(2 * 24 * 3600)
    # When the next wave runs
    second = run_window(deployed)
    # Then openssl is installed, the baseline keeps only its own rejection
    assert state_of(deployed, host, PACKAGE) == "INSTALLED"
    assert _test_al2023_baseline(deployed)["RejectedPatches"] == ["system-release.*"]
    # And the report says the exclusion expired
    assert exclusion_notes(second) == [
        f"exclusion expired on {today} (test): openssl* installed again as the baseline "
        "approves (vendor pin, ticket OPS-123)"
    ]
    # And only once: the wave after lists it no more
    third = run_window(deployed)
    assert exclusion_notes(third) == []


def _test_al2023_baseline(deployed: Deployed) -> dict[str, Any]:
    ssm = deployed.cloud.client("ssm")
    baseline_id = ssm.get_patch_baseline_for_patch_group(
        PatchGroup=LINUX, OperatingSystem="AMAZON_LINUX_2023"
    )["BaselineId"]
    found: dict[str, Any] = ssm.get_patch_baseline(BaselineId=baseline_id)
    return found


def test_a_launch_honours_an_exclusion_and_its_report_lists_it(deployed: Deployed) -> None:
    # Given the test baselines reject openssl* as the rendered policy stack writes them, and
    # the compiled policy's exclusion through tomorrow
    from fleetpatch.exclusions import CompiledExclusion
    from fleetpatch.exclusions_aws import sync_baselines
    from fleetpatch.policy import CompiledPolicy

    tomorrow = deployed.cloud.clock.now().date() + timedelta(days=1)
    exclude_openssl(deployed, tomorrow.isoformat())
    name = deployed.stack.outputs["PolicyParameterName"]
    ssm = deployed.cloud.client("ssm")
    policy = CompiledPolicy.model_validate_json(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    exclusions: list[CompiledExclusion] = policy.exclusions
    sync_baselines(ssm, exclusions, policy.patch_groups, deployed.cloud.clock.now())
    # When a covered group launches an Amazon Linux 2023 instance
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=45))
    deployed.cloud.settle(max_seconds=6 * 3600)
    # Then it was patched without openssl, released, and its report lists the exclusion
    run = deployed.execution_for(instance)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert state_of(deployed, instance, "curl-minimal.x86_64") == "INSTALLED"
    assert state_of(deployed, instance, PACKAGE) != "INSTALLED"
    assert exclusion_notes(deployed.report(run["name"])) == [
        f"exclusion applied (test): openssl* until {tomorrow}: vendor pin, ticket OPS-123"
    ]


def test_the_daily_sync_ends_an_exclusion_on_its_date_for_launches_too(
    deployed: Deployed,
) -> None:
    # Given an exclusion through today, in the baselines as the policy stack renders it
    from fleetpatch.exclusions_aws import sync_baselines
    from fleetpatch.policy import CompiledPolicy

    today = deployed.cloud.clock.now().date()
    exclude_openssl(deployed, today.isoformat())
    name = deployed.stack.outputs["PolicyParameterName"]
    ssm = deployed.cloud.client("ssm")
    policy = CompiledPolicy.model_validate_json(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    sync_baselines(ssm, policy.exclusions, policy.patch_groups, deployed.cloud.clock.now())
    assert _test_al2023_baseline(deployed)["RejectedPatches"] == ["system-release.*", "openssl*"]
    # When the clock passes 00:01 UTC the next day (no wave runs, no redeploy)
    midnight = datetime.combine(today + timedelta(days=1), time(0, 5), tzinfo=UTC)
    deployed.cloud.advance((midnight - deployed.cloud.clock.now()).total_seconds())
    # Then the stack's daily schedule took openssl* out of the baseline
    assert _test_al2023_baseline(deployed)["RejectedPatches"] == ["system-release.*"]
    function = deployed.stack.outputs["SyncExclusionsFunctionName"]
    [run] = [i for i in deployed.cloud.lambdas.invocations if i.function_name == function]
    assert run.error_type is None
    assert len(run.result["changed"]) == 1
    # And a launch now installs openssl
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=45))
    deployed.cloud.settle(max_seconds=6 * 3600)
    assert state_of(deployed, instance, PACKAGE) == "INSTALLED"
