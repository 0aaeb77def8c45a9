"""A wave's report tells the truth, once: one membership, one count, this run's own evidence.

The real template, ASL and handlers on the local cloud (issue 16, "Truthful reports"). The
waves start the state machine directly with their own batches, as `fleetpatch wave start`
does; Slack is the local webhook receiver.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import gate_record
from tests.workflows.test_gated_wave_gates import (
    batch,
    finished,
    gate,
    launch,
    run_wave,
    start_wave,
)

RUN = "manual-custom"


def wave_message(deployed: Deployed) -> dict[str, Any]:
    [message] = [
        m
        for m in deployed.messages()
        if m["channel"] == "sns" and m["attributes"].get("kind") == "wave"
    ]
    return message


def stored_html(deployed: Deployed, run: str) -> str:
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    body = deployed.cloud.client("s3").get_object(Bucket=bucket, Key=deployed.report_keys(run)[1])[
        "Body"
    ]
    return str(body.read().decode())


def installed_at_or_after(deployed: Deployed, instance: str, since: datetime) -> int:
    """The oracle: what Patch Manager says was installed on ``instance`` since ``since``."""
    patches = deployed.cloud.client("ssm").describe_instance_patches(
        InstanceId=instance,
        Filters=[{"Key": "State", "Values": ["Installed", "InstalledPendingReboot"]}],
        MaxResults=100,
    )["Patches"]
    return sum(1 for p in patches if p["InstalledTime"] >= since)


def test_a_held_wave_gives_one_count_in_every_format(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    # Given batch one: two healthy hosts, one whose install fails, one stopped, one whose
    # agent never registers, and one whose two patch group tags disagree; batch two: Windows
    healthy = launch(deployed, "UBUNTU", "g1", 2)
    [failing] = launch(deployed, "UBUNTU", "g1", install_fails=True)
    [stopped] = launch(deployed, "UBUNTU", "g1")
    [lost] = launch(deployed, "UBUNTU", "g1", never_online=True)
    assert deployed.cloud.fleet is not None
    [conflicting] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": "g1", "PatchGroup": "g-other"}, behaviour=Behaviour()
    )
    [windows] = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    deployed.cloud.client("ec2").stop_instances(InstanceIds=[stopped])
    deployed.cloud.settle(max_seconds=600)

    # When the wave runs and the gate (no failure allowed) holds batch two
    execution = run_wave(deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one"))])
    assert execution["status"] == "FAILED"

    # Then the gate counts the failed, the stopped and the unmanaged member alike...
    gate_reason = (
        "3 of 5 instances failed or were not reached (1 failed, 2 not reached); the gate allows 0"
    )
    assert [r["S"] for r in gate_record(deployed, RUN, 1)["reasons"]["L"]] == [gate_reason]
    # ...and the subject, the e-mail, Slack and the HTML page give the same counts
    headline = "6 instances: 2 patched, 1 failed, 3 not reached; 1 excluded"
    in_batch_one = "5 instances: 2 patched, 1 failed, 2 not reached; 1 excluded"
    email = wave_message(deployed)
    assert email["subject"] == f"custom wave: two held; {headline}"
    body = email["message"]
    assert re.search(rf"^Instances: +{re.escape(headline)}$", body, re.M)
    assert f"\nBatch one ({in_batch_one})\n" in body
    assert "\nBatch two (1 instance: 1 not reached) - HELD, not run\n" in body
    assert f"\n  gate FAILED: {gate_reason}\n" in body
    assert re.search(rf"^  {stopped} +not reached +- it is stopped$", body, re.M)
    assert re.search(rf"^  {lost} +not reached +- not managed: ", body, re.M)
    assert re.search(rf"^  excluded: {conflicting} - its patch group tags disagree", body, re.M)

    [posted] = [m for m in slack.delivered if m["text"].startswith("custom wave")]
    assert posted["text"] == email["subject"]
    fields = [f["text"] for b in posted["blocks"] for f in b.get("fields", [])]
    assert "*Instances*\n2 patched, 1 failed, 3 not reached; 1 excluded" in fields
    sections = "\n".join(b["text"]["text"] for b in posted["blocks"] if "text" in b)
    assert f"*one*: ran ({in_batch_one})" in sections
    assert f"gate failed: {gate_reason}" in sections

    page = stored_html(deployed, RUN)
    assert f"<dt>Instances</dt><dd>{headline}</dd>" in page
    assert f'<p class="meta">{in_batch_one} · patch groups: g1</p>' in page
    assert f"<li>{gate_reason}</li>" in page

    # Every member with its state and reason; the conflicting instance apart
    stored = deployed.report(RUN)
    one, two = stored["batches"]
    members = {i["instance_id"]: (i["outcome"], i["state"], i["reason"]) for i in one["instances"]}
    assert members[failing] == ("failed", "ready", "AWS-RunPatchBaseline ended Failed")
    assert members[stopped] == ("not-reached", "stopped", "it is stopped")
    assert members[lost][:2] == ("not-reached", "not-managed")
    assert {members[h][0] for h in healthy} == {"patched"}
    assert set(members) == {*healthy, failing, stopped, lost}
    assert list(one["excluded"]) == [conflicting]
    assert "disagree" in one["excluded"][conflicting]
    assert [(i["instance_id"], i["outcome"], i["reason"]) for i in two["instances"]] == [
        (windows, "not-reached", "its batch was held by a gate")
    ]

    # "Installed by this run" is the headline figure; the cumulative count stands apart
    started = datetime.fromisoformat(stored["started_at"])
    by_run = {
        i["instance_id"]: (i["installed_by_run"], i["installed"])
        for i in one["instances"]
        if i["instance_id"] in healthy
    }
    for host in healthy:
        this_run, cumulative = by_run[host]
        assert this_run == installed_at_or_after(deployed, host, started) > 0
        assert cumulative > this_run
    total = sum(n for n, _ in by_run.values())
    assert re.search(rf"^Installed: +{total} by this run$", body, re.M)
    assert f'<div class="tile" id="total-installed_by_run"><span class="n">{total}</span>' in page


def test_a_later_scan_is_not_shown_as_the_waves_own_result(deployed: Deployed) -> None:
    # Given a wave whose first batch is installed, then baked for an hour
    [host] = launch(deployed, "UBUNTU", "g1")
    launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    ssm = deployed.cloud.client("ssm")
    arn = start_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", bakeMinutes=60))]
    )
    deployed.cloud.advance(1800)
    [wave_command] = ssm.list_commands(InstanceId=host)["Commands"]
    assert wave_command["Status"] == "Success"
    # When a remediation-style Scan runs on it during the bake, after the wave's command
    ssm.send_command(
        DocumentName="AWS-RunPatchBaseline",
        InstanceIds=[host],
        Parameters={"Operation": ["Scan"], "RebootOption": ["NoReboot"]},
    )
    assert finished(deployed, arn)["status"] == "SUCCEEDED"
    # Then the report shows the wave's own command: its operation, reboot option and times,
    # and says the latest patch state is a later operation's
    [result] = [
        i for i in deployed.report(RUN)["batches"][0]["instances"] if i["instance_id"] == host
    ]
    invocation = ssm.get_command_invocation(CommandId=wave_command["CommandId"], InstanceId=host)
    assert (result["operation"], result["reboot_option"]) == ("Install", "RebootIfNeeded")
    assert result["command_id"] == wave_command["CommandId"]
    assert (
        datetime.fromisoformat(result["started_at"]),
        datetime.fromisoformat(result["ended_at"]),
    ) == (
        datetime.fromisoformat(invocation["ExecutionStartDateTime"].replace("Z", "+00:00")),
        datetime.fromisoformat(invocation["ExecutionEndDateTime"].replace("Z", "+00:00")),
    )
    assert result["evidence_note"].startswith("the latest patch state is a later Scan")
