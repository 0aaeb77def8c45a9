"""``fleetpatch local run``: the demo scenario end to end, its JSON contract, bad scenarios."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fleetpatch_cli.main import main
from localcloud import runner
from localcloud.core.iam import enforcer
from localcloud.runner import ScenarioResult
from localcloud.scenario import Scenario
from tests.conftest import REPO_ROOT

DEMO = REPO_ROOT / "scenarios" / "demo.yaml"
# The demo's last act: Inspector finds CVE-2024-7264 (curl) on these; one emergency run.
EMERGENCY_HOSTS = ("app-prod-ubuntu", "sap-prod-suse", "api-test-al2023")


def _emergency_start(result: dict[str, Any]) -> datetime:
    """When the demo's emergency act begins (its first finding)."""
    return min(
        datetime.fromisoformat(e["at"])
        for e in result["timeline"]
        if e["text"].startswith("Amazon Inspector finds ")
    )


@dataclass(frozen=True)
class DemoRun:
    """One play of the demo through ``fleetpatch local run --json``."""

    exit_code: int
    stdout: str
    scenario: Scenario
    options: dict[str, Any]
    result: ScenarioResult


@pytest.fixture(scope="module")
def demo() -> DemoRun:
    """The demo played once for the module (the costliest workflow test to repeat).

    The run goes through the CLI with ``--json``; ``play``'s result is kept so that the
    timeline test renders the same run. The module-scoped setup runs before each test's IAM
    guard starts counting, so the guard's check is made here for this play.
    """
    played: list[tuple[Scenario, dict[str, Any], ScenarioResult]] = []
    real_play = runner.play

    def recording_play(scenario: Scenario, **options: Any) -> ScenarioResult:
        result = real_play(scenario, **options)
        played.append((scenario, options, result))
        return result

    enforcer.take_unexpected_denials()
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out):
        patch.setattr(runner, "play", recording_play)
        exit_code = main(["local", "run", str(DEMO), "--json"])
    denials = enforcer.take_unexpected_denials()
    assert not denials, "IAM denied calls of the control plane:\n" + "\n".join(
        f"  {d.principal}: {d.action} on {d.resource} {d.reason}" for d in denials
    )
    [(scenario, options, result)] = played
    return DemoRun(exit_code, out.getvalue(), scenario, options, result)


def test_the_demo_patches_new_instances_and_abandons_the_one_never_online(
    demo: DemoRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One test plays the demo (the costliest workflow test to repeat): pytest-xdist's
    # groups do not keep tests on one worker under pytest 9, so a second test of the play
    # played it again. Its timeline is checked here too, from the same play.
    assert_the_timeline_is_printed_without_json(demo, monkeypatch, capsys)
    assert_the_demo_ends_with_security_hub_findings_and_an_audit_export(demo)
    assert_the_demo_emergency_patches_only_the_affected_hosts_through_the_gate(demo)
    assert_the_demo_skips_a_window_in_a_change_freeze_and_announces_the_next_one(demo)
    assert demo.exit_code == 0
    result = json.loads(demo.stdout)

    # The keys scripts depend on.
    assert {"runs", "lifecycle_actions", "commands", "messages"} <= result.keys()
    launches = [run for run in result["runs"] if run["kind"] == "launch"]
    outcomes = sorted((run["status"], run["instances"][0]["lifecycle_result"]) for run in launches)
    # Three scaled out: two healthy, one never online; Auto Scaling replaces the abandoned one.
    assert outcomes == [
        ("FAILED", "ABANDON"),
        ("SUCCEEDED", "CONTINUE"),
        ("SUCCEEDED", "CONTINUE"),
        ("SUCCEEDED", "CONTINUE"),
    ]
    [failed] = [run for run in launches if run["status"] == "FAILED"]
    assert failed["instances"][0]["reason"] == "AgentNeverOnline"
    actions = {a["instance_id"]: a["result"] for a in result["lifecycle_actions"]}
    assert actions == {
        run["instances"][0]["instance_id"]: run["instances"][0]["lifecycle_result"]
        for run in launches
    }
    # One AWS-RunPatchBaseline per patched new instance; then the test wave's window
    # (rendered from policy/fleet.yaml) patches batch 1: the five test Linux hosts and the
    # web-test instances in service (their group tags them patch_test_0600_batch_1 too).
    patched = {
        run["instances"][0]["instance_id"] for run in launches if run["status"] == "SUCCEEDED"
    }
    assert all(c["document"] == "AWS-RunPatchBaseline" for c in result["commands"])
    fleet = dict(
        re.fullmatch(r"launched (\S+) \(.*\): (i-\w+)", e["text"]).groups()  # type: ignore[union-attr]
        for e in result["timeline"]
        if e["category"] == "fleet" and e["text"].startswith("launched ")
    )
    # What the demo does before its last act, the emergency (test_the_demo_emergency...).
    cutoff = _emergency_start(result)
    before = [c for c in result["commands"] if datetime.fromisoformat(c["requested"]) < cutoff]
    commands_per_instance = Counter(i for c in before for i in c["instance_ids"])
    test_linux = {
        fleet[name]
        for name in (
            "db-test-rhel",
            "app-test-ubuntu",
            "web-test-al2023",
            "build-test-centos",
            "sap-test-suse",
        )
    }
    # ...and when the window ends, the gate passes and the gated wave patches batch 2,
    # the test Windows host; prod is not touched.
    prod_linux = {
        fleet[name]
        for name in (
            "db-prod-rhel",
            "app-prod-ubuntu",
            "web-prod-al2023",
            "build-prod-centos",
            "sap-prod-suse",
        )
    }
    # (The web tier and the API host, patched or held by the web wave, are checked below.)
    known = set(fleet.values()) | patched
    web_wave = {fleet["api-test-al2023"]} | {i for i in commands_per_instance if i not in known}
    assert Counter(
        {i: n for i, n in commands_per_instance.items() if i not in prod_linux | web_wave}
    ) == Counter(
        {
            **dict.fromkeys(patched, 2),
            **dict.fromkeys(test_linux, 1),
            fleet["app-test-windows"]: 1,
        }
    )
    # The prod wave: db-prod-rhel's install fails (MaxErrors 0 stops the rest: their
    # invocations end Cancelled, and count as failed), the gate
    # holds batch 2, and prod's Windows host is never touched. The failed install is drift:
    # prod remediates by scanning (one more command, a Scan), and the digest reports it.
    assert commands_per_instance[fleet["db-prod-rhel"]] == 2
    [remediation] = [
        run
        for run in result["runs"]
        if run["kind"] == "remediation" and datetime.fromisoformat(run["started"]) < cutoff
    ]
    assert remediation["instances"][0]["instance_id"] == fleet["db-prod-rhel"]
    assert remediation["instances"][0]["outcome"] == "scanned"
    emergency_hosts = [fleet[n] for n in EMERGENCY_HOSTS]
    digests = [
        m
        for m in result["messages"]
        if m["attributes"].get("kind") == "compliance-digest"
        and not any(h in json.dumps(m["message"]) for h in emergency_hosts)
    ]
    prod_digests = [m for m in digests if m["attributes"]["environment"] == "prod"]
    assert [m["subject"] for m in prod_digests] == ["compliance digest: 1 instance drifted (prod)"]
    # test's digests come from the web wave (its hours cut the wave where they fall): the
    # web tier recovering as it is patched, the rolled-back one drifting.
    for digest in (m for m in digests if m not in prod_digests):
        assert digest["attributes"]["environment"] == "test"
        assert "test/patch_test_0800_batch_1" in digest["message"]
        assert "test/patch_test_0600" not in digest["message"]
    slack = [m for m in result["messages"] if m["channel"] == "slack"]
    assert len(slack) == len([m for m in result["messages"] if m["channel"] == "sns"])
    assert fleet["app-prod-windows"] not in commands_per_instance
    waves = {run["wave"]: run for run in result["runs"] if run["kind"] == "wave"}
    assert (waves["test"]["status"], waves["test"]["outcome"]) == ("SUCCEEDED", "completed")
    assert (waves["prod"]["status"], waves["prod"]["outcome"]) == ("FAILED", "GateFailed")
    assert "the gate before windows-apps failed" in waves["prod"]["detail"]
    # Every run reported.
    launch_reports = [m for m in result["messages"] if m["attributes"].get("kind") == "launch"]
    assert sorted(m["subject"].split()[2].rstrip(":") for m in launch_reports) == sorted(actions)
    wave_reports = {
        m["subject"].split()[0]: m
        for m in result["messages"]
        if m["attributes"].get("kind") == "wave"
    }
    assert wave_reports["test"]["subject"].startswith("test wave: done; ")
    # The held wave gives one count: the subject, and the gate's reason for the same batch.
    # Which of the five ran before the failure depends on the instance ids' order; the rest
    # Run Command never started (max_errors 0): not reached.
    subject = re.fullmatch(
        r"prod wave: windows-apps held; 6 instances: (?:(\d) patched, )?1 failed, (\d) not reached",
        wave_reports["prod"]["subject"],
    )
    assert subject is not None, wave_reports["prod"]["subject"]
    patched_first = int(subject[1] or 0)
    assert patched_first + int(subject[2]) == 5
    gate_says = (
        f"{5 - patched_first} of 5 instances failed or were not reached"
        if patched_first < 4
        else "1 of 5 instances failed"
    )
    assert gate_says in waves["prod"]["detail"]
    assert f"{fleet['db-prod-rhel']:<20} failed" in wave_reports["prod"]["message"]
    assert "AWS-RunPatchBaseline ended Failed" in wave_reports["prod"]["message"]
    # The web wave: the web tier (six behind web-tier-tg) patched one at a time, the broken
    # one rolled back from its snapshot; the gate holds the API batch, never patched.
    assert (waves["web"]["status"], waves["web"]["outcome"]) == ("FAILED", "GateFailed")
    assert "the gate before api failed" in waves["web"]["detail"]
    assert fleet["api-test-al2023"] not in commands_per_instance
    web_tier = web_wave - {fleet["api-test-al2023"]}
    assert len(web_tier) == 6
    assert wave_reports["web"]["subject"] == (
        "web wave: api held; 7 instances: 5 patched, 1 failed, 1 not reached"
    )
    assert "rolled back from snap-" in wave_reports["web"]["message"]
    # Never more than one of six out of service: five healthy or more once all six were.
    samples = result["healthy_counts"]["web-tier-tg"]
    first_full = next(i for i, s in enumerate(samples) if s["healthy"] == 6)
    assert min(s["healthy"] for s in samples[first_full:]) == 5
    assert samples[-1]["healthy"] == 6
    # Each instance's serving outcome and time out of service, as the workflow recorded them.
    serving = {r["instance_id"]: r for r in result["serving"]}
    assert set(serving) == web_tier
    assert sorted(r["outcome"] for r in serving.values()) == ["patched"] * 5 + ["rolled-back"]
    assert all(r["wave"] == "web" and r["step"] == 0 for r in serving.values())
    assert all(r["out_of_service_seconds"] > 0 for r in serving.values())
    # Events flowed from the simulated fleet into the handlers.
    functions = {i["function"] for i in result["invocations"]}
    assert {
        "fleetpatch-default-patch-on-launch",
        "fleetpatch-default-resolve-instance",
        "fleetpatch-default-await-command",
        "fleetpatch-default-command-status",
        "fleetpatch-default-compliance-change",
    } <= functions


def assert_the_demo_ends_with_security_hub_findings_and_an_audit_export(demo: DemoRun) -> None:
    # issue 21: Security Hub was enabled first, so the runs' compliance changes reached it
    # through the digest; db-prod-rhel's failed install is a FAILED finding. The auditor's
    # export names every instance of the fleet.
    steps = [e["text"] for e in json.loads(demo.stdout)["timeline"] if e["category"] == "step"]
    [hub] = [t for t in steps if t.startswith("Security Hub findings from fleetpatch:")]
    assert re.search(r"\b[1-9]\d* FAILED/ACTIVE/NEW\b", hub), hub
    assert any(t.strip().startswith("CRITICAL: ") for t in steps)
    [export] = [t for t in steps if t.startswith("audit export (fleetpatch export --since 30d):")]
    instances = int(re.search(r"(\d+) instances", export).group(1))  # type: ignore[union-attr]
    assert instances == len(demo.scenario.fleet) + 9  # web-test: 3 + 1 replacement; web-tier: 6
    assert "Installed" in export


def assert_the_demo_emergency_patches_only_the_affected_hosts_through_the_gate(
    demo: DemoRun,
) -> None:
    result = json.loads(demo.stdout)
    fleet = dict(
        re.fullmatch(r"launched (\S+) \(.*\): (i-\w+)", e["text"]).groups()  # type: ignore[union-attr]
        for e in result["timeline"]
        if e["category"] == "fleet" and e["text"].startswith("launched ")
    )
    # Three findings (one per host) made one emergency run, which succeeded
    [run] = [
        r for r in result["runs"] if r["kind"] == "wave" and r["name"].startswith("emergency-")
    ]
    assert run["status"] == "SUCCEEDED"
    # ... installing exactly each OS's fix, on the three hosts only: prod's two first, then,
    # after the gate on them, the API host
    sent = sorted(
        (c for c in result["commands"] if "/emergency/" in (c["install_override_list"] or "")),
        key=lambda c: c["requested"],
    )
    assert [set(c["instance_ids"]) for c in sent] == [
        {fleet["sap-prod-suse"]},
        {fleet["app-prod-ubuntu"]},
        {fleet["api-test-al2023"]},
    ]
    assert all(c["status"] == "Success" for c in sent)
    # And the timeline shows each host's time to remediate against the SLA
    lines = [e["text"] for e in result["timeline"] if e["category"] == "emergency"]
    assert "time to remediate: 3 met, 0 missed, 0 open of 3 instance(s)" in lines
    for name in EMERGENCY_HOSTS:
        assert any(
            line.startswith(f"{fleet[name]} (") and "(SLA 24 h: met)" in line for line in lines
        )


def assert_the_timeline_is_printed_without_json(
    demo: DemoRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI asks for the module's play (same scenario, same options but progress: a
    # spinner, drawn only at a time factor above 0, the demo's is 0) and renders its timeline.
    def replay(scenario: Scenario, **options: Any) -> ScenarioResult:
        assert scenario == demo.scenario
        assert scenario.time_factor == 0
        assert options == {**demo.options, "progress": True}
        return demo.result

    monkeypatch.setattr(runner, "play", replay)
    assert main(["local", "run", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "demo on the local cloud" in out
    assert "workflow runs" in out
    assert re.search(r"target group web-tier-tg: lowest 5 of 6 healthy, first at \+\d\d:", out)
    assert re.search(r"web +1 +i-\w+ +rolled-back +\d+m \d\ds", out)
    assert "AgentNeverOnline" in out


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("name: x\nsteps:\n  - scale_out: {group: nowhere, count: 1}\n", "scale_out.group"),
        ("name: x\nfleet:\n  - {name: a, os: BEOS}\n", "fleet.0.os"),
        ("name: x\nsteps:\n  - explode: {}\n", "steps.0"),
        ("name: x\nsteps:\n  - put_event: {file: events/nope.json}\n", "steps.0.put_event.file"),
        ("name: [unclosed\n", "x.yaml"),
    ],
)
def test_an_invalid_scenario_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, field: str
) -> None:
    scenario = tmp_path / "x.yaml"
    scenario.write_text(content)
    assert main(["local", "run", str(scenario), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert field in captured.err


def test_a_window_the_stack_does_not_have_is_refused_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo with a typo in the first window's name (it ran 32 s of simulation first)
    scenario = tmp_path / "typo.yaml"
    text = DEMO.read_text()
    assert "{window: fleetpatch-default-wave-test}" in text
    scenario.write_text(text.replace("wave-test}", "wave-tst}", 1))
    # When it is played
    assert main(["local", "run", str(scenario), "--json"]) == 2
    # Then one line names the step and the window meant, and nothing was played
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(scenario))}: steps\.\d+\.run_window\.window: no maintenance window "
        r"fleetpatch-default-wave-tst in the stack \(did you mean fleetpatch-default-wave-test\?\)",
        line,
    )


def assert_the_demo_skips_a_window_in_a_change_freeze_and_announces_the_next_one(
    demo: DemoRun,
) -> None:
    # Issue 21's blocks: the test wave's first window falls in the freeze and is skipped,
    # reported; the second, after the calendar opened, patches. Then the prod wave's next
    # window is announced days ahead, by e-mail and Slack.
    result = json.loads(demo.stdout)
    tests = [r for r in result["runs"] if r["kind"] == "wave" and r["wave"] == "test"]
    assert [r["outcome"] for r in tests] == ["skipped", "completed"]
    subjects = [
        m["subject"]
        for m in result["messages"]
        if m["channel"] == "sns" and m["attributes"].get("kind") == "wave"
    ]
    assert "test wave: skipped (change freeze), nothing sent" in subjects
    notices = [m for m in result["messages"] if m["attributes"].get("kind") == "notice"]
    [email] = [m for m in notices if m["channel"] == "sns"]
    assert re.fullmatch(r"prod wave in \d+ days: 6 hosts, 2026-11-21 05:00 UTC", email["subject"])
    assert "db-prod-rhel" in email["message"]
    slack = [m for m in result["messages"] if m["channel"] == "slack"]
    assert any(str(m["subject"]).startswith("prod wave in ") for m in slack)
