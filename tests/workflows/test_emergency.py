"""Emergency runs through the real gated-wave ASL on the local cloud (issue 21, part 1).

The run is started as ``fleetpatch emergency`` starts it (fleetpatch.services.emergency,
with the operator's clients), so each test exercises resolution, the InstallOverrideList
per OS, the fleet's batches and gates, and the report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.emergency import Target
from fleetpatch.emergency_policy import CompiledEmergency, CompiledInspector
from fleetpatch.policy import CompiledPolicy, CompiledSchedule, CompiledWave
from fleetpatch.services.emergency import EmergencyRequest, start_emergency
from localcloud.sim.instances import Behaviour
from tests.conftest import load_event
from tests.workflows.conftest import Deployed

CVE = "CVE-2024-7264"  # curl: Amazon Linux 2 and 2023 (and others), not Windows


class Settings:
    def __init__(self, deployed: Deployed) -> None:
        self.state_machine_arn = deployed.stack.state_machine_arn("GatedWaveStateMachine")
        self.table_name = deployed.stack.physical_id("StateTable")
        self.artifacts_bucket = deployed.stack.physical_id("ArtifactsBucket")


def _batch(name: str, group: str, gate: RuntimeGate | None = None) -> RuntimeBatch:
    return RuntimeBatch(
        name=name,
        patch_groups=[group],
        max_concurrency="100%",
        max_errors="0",
        operation="Install",
        reboot_option="RebootIfNeeded",
        gate=gate,
    )


def policy(*, bake_minutes: int = 30, inspector: bool = False) -> CompiledPolicy:
    """One prod wave: db (g-db) first, then web (g-web) behind a 30-minute gate on db."""
    gate = RuntimeGate(batches=["db"], bake_minutes=bake_minutes)
    return CompiledPolicy(
        waves={
            "prod": CompiledWave(
                schedule=CompiledSchedule(cron="cron(0 6 ? * SAT#3 *)"),
                batches=[_batch("db", "g-db"), _batch("web", "g-web", gate)],
            )
        },
        patch_groups={"g-db": "prod", "g-web": "prod"},
        emergency=CompiledEmergency(inspector=CompiledInspector(enabled=inspector)),
    )


def deploy_policy(deployed: Deployed, rules: CompiledPolicy) -> None:
    """The policy as `make policy` deploys it (the parameter the functions and CLI read)."""
    deployed.cloud.client("ssm").put_parameter(
        Name=deployed.stack.output("PolicyParameterName"),
        Value=rules.model_dump_json(by_alias=True),
        Type="String",
        Overwrite=True,
    )
    deployed.cloud.advance(61)  # the functions cache the policy for a minute (fleetpatch.aws)


def emergency_runs(deployed: Deployed) -> list[dict[str, Any]]:
    listed = deployed.cloud.client("stepfunctions").list_executions(
        stateMachineArn=Settings(deployed).state_machine_arn
    )["executions"]
    return [e for e in listed if e["name"].startswith("emergency-")]


def launch(deployed: Deployed, os_name: str, group: str, **behaviour: Any) -> str:
    assert deployed.cloud.fleet is not None
    (instance,) = deployed.cloud.fleet.launch(
        os_name, tags={"Patch Group": group}, behaviour=Behaviour(**behaviour)
    )
    return instance


def scanned(deployed: Deployed, instances: list[str]) -> None:
    """Agents online and a Scan recorded on each (their patch state, as a fleet has one)."""
    deployed.cloud.settle(max_seconds=600)
    deployed.cloud.client("ssm").send_command(
        InstanceIds=instances,
        DocumentName="AWS-RunPatchBaseline",
        Parameters={"Operation": ["Scan"]},
    )
    deployed.cloud.settle(max_seconds=600)


def request(deployed: Deployed, **kwargs: Any) -> EmergencyRequest:
    return EmergencyRequest(
        target=Target(CVE),
        source="cli",
        requested_by="test",
        requested_at=deployed.cloud.clock.now(),
        reason="curl RCE",
        **kwargs,
    )


def start(deployed: Deployed, rules: CompiledPolicy, **kwargs: Any) -> dict[str, Any]:
    return start_emergency(
        request(deployed, **kwargs), Settings(deployed), rules, client=deployed.cloud.client
    )


def finished(deployed: Deployed, run: str) -> dict[str, Any]:
    deployed.cloud.settle(max_seconds=24 * 3600)
    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.stack.state_machine_arn("GatedWaveStateMachine").replace(
        ":stateMachine:", ":execution:"
    )
    found: dict[str, Any] = sfn.describe_execution(executionArn=f"{arn}:{run}")
    return found


def patch_commands(deployed: Deployed) -> list[dict[str, Any]]:
    commands = deployed.cloud.client("ssm").list_commands()["Commands"]
    return [c for c in commands if c["Parameters"].get("Operation") == ["Install"]]


def state_of(deployed: Deployed, instance: str, kb: str) -> str | None:
    patches = deployed.cloud.client("ssm").describe_instance_patches(InstanceId=instance)
    return next((p["State"] for p in patches["Patches"] if p["KBId"] == kb), None)


@pytest.fixture
def fleet(deployed: Deployed) -> dict[str, str]:
    return emergency_fleet(deployed)


def emergency_fleet(deployed: Deployed) -> dict[str, str]:
    """db: two Amazon Linux 2 hosts and a Windows host; web: an AL2023 host and Windows."""
    hosts = {
        "db-al2-a": launch(deployed, "AMAZON_LINUX_2", "g-db"),
        "db-al2-b": launch(deployed, "AMAZON_LINUX_2", "g-db"),
        "db-win": launch(deployed, "WINDOWS", "g-db"),
        "web-al2023": launch(deployed, "AMAZON_LINUX_2023", "g-web"),
        "web-win": launch(deployed, "WINDOWS", "g-web"),
    }
    scanned(deployed, list(hosts.values()))
    return hosts


def test_patches_only_the_affected_hosts_of_two_batches_through_the_gate(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given a CVE (curl) missing on the Linux hosts of both batches, not on Windows
    assert state_of(deployed, fleet["db-al2-a"], "curl.x86_64") == "MISSING"
    # When an operator starts an emergency run for it
    started = start(deployed, policy())
    execution = finished(deployed, started["run"])
    # Then the run patched the affected hosts only, db before web, with the override lists
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert started["batches"] == ["prod-db-al2", "prod-web-al2023"]
    commands = sorted(patch_commands(deployed), key=lambda c: c["RequestedDateTime"])
    assert [sorted(c["InstanceIds"]) for c in commands] == [
        sorted([fleet["db-al2-a"], fleet["db-al2-b"]]),
        [fleet["web-al2023"]],
    ]
    assert [c["Parameters"]["InstallOverrideList"][0].split("/")[-2] for c in commands] == [
        "AMAZON_LINUX_2",
        "AMAZON_LINUX_2023",
    ]
    # ... and they installed the fix and nothing else the baseline would have
    assert state_of(deployed, fleet["db-al2-a"], "curl.x86_64") == "INSTALLED"
    assert state_of(deployed, fleet["web-al2023"], "curl-minimal.x86_64") == "INSTALLED"
    assert state_of(deployed, fleet["db-al2-a"], "openssl-libs.x86_64") == "MISSING"
    # ... through the gate (bake and decision before web)
    gate_items = deployed.cloud.client("dynamodb").query(
        TableName=Settings(deployed).table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :gate)",
        ExpressionAttributeValues={
            ":pk": {"S": f"WAVE#{started['run']}"},
            ":gate": {"S": "GATE#"},
        },
    )["Items"]
    assert [i["batch"]["S"] for i in gate_items if i["passed"]["BOOL"]][:1] == ["prod-web-al2023"]
    # And the report says it is an emergency for the CVE, with each host's time to remediate
    report = deployed.report(started["run"])
    assert report["outcome"] == "completed"
    # (each host is patched: its fix is installed; the rest of its baseline is the waves')
    outcomes = [i["outcome"] for b in report["batches"] for i in b["instances"]]
    assert outcomes == ["patched"] * 3
    text = str(report)
    assert f"EMERGENCY run for {CVE}" in text
    assert "time to remediate: 3 met, 0 missed, 0 open of 3 instance(s)" in text
    assert f"{fleet['db-al2-a']} (AMAZON_LINUX_2): remediated in" in text


def test_a_failed_gate_stops_the_later_batch(deployed: Deployed, fleet: dict[str, str]) -> None:
    # Given a db host whose install fails
    assert deployed.cloud.fleet is not None
    deployed.cloud.fleet.set_behaviour(fleet["db-al2-b"], Behaviour(install_fails=True))
    # When the emergency runs
    started = start(deployed, policy())
    execution = finished(deployed, started["run"])
    # Then the gate before web holds it: web's host is never sent the patch
    assert execution["status"] == "FAILED"
    assert "the gate before prod-web-al2023 failed" in execution["cause"]
    sent = {i for c in patch_commands(deployed) for i in c["InstanceIds"]}
    assert fleet["web-al2023"] not in sent
    assert state_of(deployed, fleet["web-al2023"], "curl-minimal.x86_64") == "MISSING"


def test_an_excepted_host_is_not_patched(deployed: Deployed, fleet: dict[str, str]) -> None:
    # Given an affected db host that opted out with fleetpatch:skip
    deployed.cloud.client("ec2").create_tags(
        Resources=[fleet["db-al2-b"]],
        Tags=[{"Key": "fleetpatch:skip", "Value": "until=2099-01-01; reason=vendor freeze"}],
    )
    # When the emergency runs
    started = start(deployed, policy())
    execution = finished(deployed, started["run"])
    # Then every other affected host is patched, the excepted one is not
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    sent = {i for c in patch_commands(deployed) for i in c["InstanceIds"]}
    assert fleet["db-al2-b"] not in sent
    assert fleet["db-al2-a"] in sent
    assert state_of(deployed, fleet["db-al2-b"], "curl.x86_64") == "MISSING"


def test_a_burst_of_duplicated_findings_makes_one_run(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given Inspector findings for the CVE on the three Linux hosts, each delivered twice
    inspector = deployed.cloud.inspector
    assert inspector is not None
    affected = [fleet["db-al2-a"], fleet["db-al2-b"], fleet["web-al2023"]]
    for instance in affected:
        inspector.raise_finding(instance, CVE, "CRITICAL")
    # When each finding asks for the emergency (twice: at-least-once delivery)
    answers = [
        start(
            deployed,
            policy(),
            severity="CRITICAL",
            findings={instance: deployed.cloud.clock.now()},
        )
        for instance in affected + affected
    ]
    # Then one run starts; every other answer is recorded against it
    outcomes = [a["outcome"] for a in answers]
    assert outcomes.count("started") == 1
    assert set(outcomes[1:]) == {"recorded"}
    run = answers[0]["run"]
    assert {a["run"] for a in answers} == {run}
    assert answers[0]["source"] == "inspector"
    execution = finished(deployed, run)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    runs = [
        e
        for e in deployed.cloud.client("stepfunctions").list_executions(
            stateMachineArn=Settings(deployed).state_machine_arn
        )["executions"]
        if e["name"].startswith("emergency-")
    ]
    assert [e["name"] for e in runs] == [run]
    assert isinstance(runs[0]["startDate"], datetime)


def test_inspector_findings_through_eventbridge_start_one_run(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given a policy whose emergency section lets CRITICAL findings start runs
    deploy_policy(deployed, policy(inspector=True))
    inspector = deployed.cloud.inspector
    assert inspector is not None
    affected = [fleet["db-al2-a"], fleet["db-al2-b"], fleet["web-al2023"]]
    # When Inspector finds the CVE on three hosts, and announces each finding twice
    for instance in affected + affected:
        inspector.raise_finding(instance, CVE, "CRITICAL")
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the emergency function (its own role, IAM enforced) started exactly one run
    answers = [
        i.result
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("-emergency")
    ]
    assert len(answers) == 6
    assert sorted(str(a.get("outcome")) for a in answers) == ["recorded"] * 5 + ["started"]
    (run,) = emergency_runs(deployed)
    assert run["status"] == "SUCCEEDED"
    # ... which patched the three hosts and reports each one's time from its finding
    sent = {i for c in patch_commands(deployed) for i in c["InstanceIds"]}
    assert sent == set(affected)
    text = str(deployed.report(run["name"]))
    assert "affected instances from inspector" in text
    assert "time to remediate: 3 met, 0 missed, 0 open of 3 instance(s)" in text


def test_findings_start_nothing_unless_the_policy_says_so(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    deploy_policy(deployed, policy(inspector=False))
    assert deployed.cloud.inspector is not None
    deployed.cloud.inspector.raise_finding(fleet["db-al2-a"], CVE, "CRITICAL")
    deployed.cloud.settle(max_seconds=3600)
    (answer,) = [
        i.result
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("-emergency")
    ]
    assert answer["route"] == "ignored"
    assert "emergency.inspector is not enabled" in answer["reason"]
    assert emergency_runs(deployed) == []


def _printed(out: str) -> str:
    """What the command printed (the in-process functions log JSON lines to stdout too)."""
    return "\n".join(line for line in out.splitlines() if not line.startswith("{"))


def test_the_cli_starts_the_run_and_a_second_request_names_it(
    deployed: Deployed, fleet: dict[str, str], capsys: Any
) -> None:
    from argparse import Namespace

    from fleetpatch_cli.emergency_cmd import run_emergency_command

    deploy_policy(deployed, policy())
    args = Namespace(
        stage="default",
        cve=CVE.lower(),
        kb=[],
        package=[],
        environment="prod",
        severity=None,
        reason="curl RCE",
        override_freeze="exploited in the wild",
        json=False,
    )
    assert run_emergency_command(args, deployed.cloud.client) == 0
    first = _printed(capsys.readouterr().out)
    assert first.startswith("started emergency-CVE-2024-7264-")
    assert "batches in order: prod-db-al2, prod-web-al2023" in first
    assert run_emergency_command(args, deployed.cloud.client) == 0
    second = _printed(capsys.readouterr().out)
    assert second.startswith("recorded: run emergency-CVE-2024-7264-")
    deployed.cloud.settle(max_seconds=24 * 3600)
    (run,) = emergency_runs(deployed)
    assert run["status"] == "SUCCEEDED"
    assert "change freeze overridden: exploited in the wild" in str(deployed.report(run["name"]))
    args.environment = "staging"
    assert run_emergency_command(args, deployed.cloud.client) == 2
    assert "not an environment of the deployed policy (prod)" in capsys.readouterr().err


def test_nothing_affected_starts_nothing_and_gives_the_lease_back(
    deployed: Deployed, fleet: dict[str, str]
) -> None:
    # Given a CVE no host's patch state names, and no Inspector finding
    rules = policy()
    settings = Settings(deployed)
    unknown = EmergencyRequest(
        target=Target("CVE-1999-0001"),
        source="cli",
        requested_by="test",
        requested_at=deployed.cloud.clock.now(),
    )
    # When it is asked for twice
    answers = [
        start_emergency(unknown, settings, rules, client=deployed.cloud.client) for _ in range(2)
    ]
    # Then neither starts a run, and the second is not "recorded" against a phantom run
    assert [a["outcome"] for a in answers] == ["nothing-to-patch", "nothing-to-patch"]
    assert "no instance of the fleet is affected by CVE-1999-0001" in answers[0]["reason"]
    assert emergency_runs(deployed) == []


def test_an_operators_event_starts_the_run(deployed: Deployed, fleet: dict[str, str]) -> None:
    # Given the deployed policy, and an operator's request as the fixture shows it
    deploy_policy(deployed, policy())
    event = load_event("fleetpatch.operator/emergency-patch-requested")
    event["time"] = deployed.cloud.clock.now().isoformat().replace("+00:00", "Z")
    # When it is put on the bus
    deployed.cloud.put_event(event)
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the emergency function started the run, which patched the Linux hosts only
    (run,) = emergency_runs(deployed)
    assert run["status"] == "SUCCEEDED"
    sent = {i for c in patch_commands(deployed) for i in c["InstanceIds"]}
    assert sent == {fleet["db-al2-a"], fleet["db-al2-b"], fleet["web-al2023"]}
    text = str(deployed.report(run["name"]))
    assert (
        "requested by arn:aws:sts::123456789012:assumed-role/SecOps/alice (operator-event)" in text
    )
