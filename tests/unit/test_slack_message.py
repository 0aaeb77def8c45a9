"""Slack: Block Kit for runs and digests, and escaping."""

from __future__ import annotations

from datetime import date

from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    ExceptionEntry,
    InstanceResult,
)
from fleetpatch.slack_message import (
    LISTED,
    fallback_message,
    message_for,
)
from tests.unit.slack_samples import (
    ESCAPED,
    HOSTILE,
    INSTANCE,
    RUN,
    T0,
    digest,
    held_wave,
    launch,
    mrkdwn,
    texts,
)

# --- Block Kit ----------------------------------------------------------------------------------


HELD = "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"


def test_the_message_of_a_held_wave() -> None:
    assert message_for(held_wave(), report_url="https://example.com/r.html") == {
        "text": HELD,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f":octagonal_sign: {HELD}", "emoji": True},
            },
            {"type": "section", "text": mrkdwn("The gate before windows-apps failed.")},
            {
                "type": "section",
                "fields": [
                    mrkdwn("*Outcome*\nheld (gate failed)"),
                    mrkdwn("*Environment*\nprod"),
                    mrkdwn("*Instances*\n1 patched, 1 failed, 1 not reached"),
                    mrkdwn(
                        "*Patches*\ninstalled by this run: not counted; 0 missing, 0 failed, "
                        "0 pending reboot"
                    ),
                    mrkdwn(f"*Run*\n`{RUN}`"),
                    mrkdwn("*Duration*\n40m 00s"),
                ],
            },
            {
                "type": "section",
                "text": mrkdwn(
                    "*linux-databases*: ran (2 instances: 1 patched, 1 failed)\n"
                    "*windows-apps*: *held* (1 instance: 1 not reached)\n"
                    "    gate failed: 1 instance failed in linux-databases (max 0)"
                ),
            },
            {
                "type": "section",
                "text": mrkdwn(
                    "*Failed (1)*\n`i-0db00000000000002` failed: AWS-RunPatchBaseline ended Failed"
                ),
            },
            {
                "type": "context",
                "elements": [
                    mrkdwn(f"fleetpatch run `{RUN}` | <https://example.com/r.html|report>")
                ],
            },
        ],
    }


def test_a_wave_names_every_member_that_needs_a_look_and_the_excluded_apart() -> None:
    # Given a held wave whose first batch has a failed, a stopped and an unmanaged member,
    # and an instance whose patch group tags disagree
    def member(n: int, outcome: str, reason: str | None = None) -> InstanceResult:
        return InstanceResult.model_validate(
            {"instance_id": f"i-{n:016d}", "outcome": outcome, "reason": reason}
        )

    ran = BatchResult(
        name="linux",
        status="ran",
        instances=[
            member(1, "patched"),
            member(2, "failed", "AWS-RunPatchBaseline ended Failed"),
            member(3, "not-reached", "it is stopped"),
            member(4, "not-reached", "not managed: its SSM agent is not registered"),
        ],
        excluded={
            "i-0000000000000009": "its patch group tags disagree (Patch Group=a, PatchGroup=b)"
        },
    )
    held = held_wave().batches[1]
    report = held_wave().model_copy(update={"batches": [ran, held], "installed_by_run": 7})
    message = message_for(report, report_url=None)
    # Then the count is the subject's, and the members are listed with their reasons
    headline = "5 instances: 1 patched, 1 failed, 3 not reached; 1 excluded"
    assert message["text"] == f"prod wave: windows-apps held; {headline}"
    found = texts(message)
    assert "*Instances*\n1 patched, 1 failed, 3 not reached; 1 excluded" in found
    assert "*Patches*\ninstalled by this run: 7; 0 missing, 0 failed, 0 pending reboot" in found
    assert found[8].startswith(
        "*linux*: ran (4 instances: 1 patched, 1 failed, 2 not reached; 1 excluded)\n"
    )
    assert found[9] == (
        "*Failed or not reached (3)*\n"
        "`i-0000000000000002` failed: AWS-RunPatchBaseline ended Failed\n"
        "`i-0000000000000003` not reached: it is stopped\n"
        "`i-0000000000000004` not reached: not managed: its SSM agent is not registered"
    )
    assert found[10] == (
        "*Excluded (1)*\n"
        "`i-0000000000000009`: its patch group tags disagree (Patch Group=a, PatchGroup=b)"
    )


def test_a_wave_lists_the_exceptions_that_applied_and_expired() -> None:
    # Given a batch with a member excepted by fleetpatch:skip and one whose exception expired
    ran = BatchResult(
        name="linux",
        status="ran",
        instances=[
            InstanceResult(
                instance_id="i-0000000000000001",
                outcome="skipped-by-exception",
                reason="excepted until 2026-12-31: vendor freeze",
            ),
            InstanceResult(instance_id="i-0000000000000002", outcome="patched"),
        ],
        exceptions={
            "i-0000000000000001": ExceptionEntry(
                status="applies",
                until=date(2026, 12, 31),
                reason="vendor freeze",
                note="excepted until 2026-12-31: vendor freeze",
            ),
            "i-0000000000000002": ExceptionEntry(
                status="expired",
                until=date(2026, 11, 30),
                reason="old",
                note="exception expired on 2026-11-30, patched",
            ),
        },
    )
    report = held_wave().model_copy(update={"batches": [ran], "outcome": "completed"})
    # Then the message counts the excepted member apart and lists both exceptions
    found = texts(message_for(report, report_url=None))
    assert "*Instances*\n1 patched, 1 skipped by exception" in found
    assert (
        "*Exceptions (fleetpatch:skip) (2)*\n"
        "`i-0000000000000001`: excepted until 2026-12-31: vendor freeze\n"
        "`i-0000000000000002`: exception expired on 2026-11-30, patched"
    ) in found


def test_the_message_of_a_patched_launch() -> None:
    report = launch(
        "patched",
        InstanceResult(instance_id=INSTANCE, outcome="patched", installed=12, missing=0, failed=0),
    )
    assert message_for(report, report_url=None) == {
        "text": f"launch of {INSTANCE}: patched, 12 installed, released [test]",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": f":white_check_mark: launch of {INSTANCE}: patched, 12 installed, "
                    "released [test]",
                    "emoji": True,
                },
            },
            {"type": "section", "text": mrkdwn("patched on launch: 12 patches installed")},
            {
                "type": "section",
                "fields": [
                    mrkdwn("*Outcome*\npatched"),
                    mrkdwn("*Environment*\ntest"),
                    mrkdwn("*Instances*\n1 patched"),
                    mrkdwn("*Patches*\n12 installed, 0 missing, 0 failed, 0 pending reboot"),
                    mrkdwn("*Run*\n`launch-i-0a1b2c3d4e5f60718-1`"),
                    mrkdwn("*Duration*\n7m 05s"),
                    mrkdwn("*Lifecycle*\nCONTINUE in `web-test`"),
                ],
            },
            {
                "type": "context",
                "elements": [mrkdwn("fleetpatch run `launch-i-0a1b2c3d4e5f60718-1`")],
            },
        ],
    }


def test_a_failed_launch_lists_the_instance_and_uses_the_failure_emoji() -> None:
    report = launch(
        "failed",
        InstanceResult(instance_id=INSTANCE, outcome="failed", reason="agent never registered"),
        reason="InstanceNotManaged",
        lifecycle="ABANDON",
    )
    message = message_for(report, report_url=None)
    assert message["blocks"][0]["text"]["text"] == (
        f":x: launch of {INSTANCE}: failed (InstanceNotManaged), abandoned [test]"
    )
    assert message["blocks"][2]["fields"][-1] == mrkdwn("*Lifecycle*\nABANDON in `web-test`")
    assert message["blocks"][2]["fields"][0] == mrkdwn("*Outcome*\nfailed (InstanceNotManaged)")
    assert message["blocks"][3] == {
        "type": "section",
        "text": mrkdwn(f"*Failed (1)*\n`{INSTANCE}` failed: agent never registered"),
    }


def test_a_run_lists_ten_failed_instances_and_counts_the_rest() -> None:
    failed = [
        InstanceResult(instance_id=f"i-{n:017x}", outcome="failed", reason="timed out")
        for n in range(30)
    ]
    report = held_wave().model_copy(
        update={"batches": [BatchResult(name="all", status="ran", instances=failed)]}
    )
    section = texts(message_for(report, report_url=None))[-2]
    lines = section.splitlines()
    assert lines[0] == "*Failed (30)*"
    assert lines[1:-1] == [f"`i-{n:017x}` failed: timed out" for n in range(LISTED)]
    assert lines[-1] == "... and 20 more in the report"


def test_the_message_of_a_large_digest_names_ten_instances() -> None:
    message = message_for(digest(200, 2), report_url="https://example.com/d.html")
    drifted = "\n".join(
        f"`i-{n:017x}` prod/patch_prod_0600_batch_1 severity critical" for n in range(LISTED)
    )
    assert message == {
        "text": "compliance digest: 200 instances drifted, 2 recovered (prod,test)",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":warning: compliance digest: 200 instances drifted, 2 recovered "
                    "(prod,test)",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": mrkdwn(
                    "Patch compliance changes from 2026-11-21 05:00 to 2026-11-21 06:00 UTC."
                ),
            },
            {
                "type": "section",
                "text": mrkdwn(f"*Drifted (200)*\n{drifted}\n... and 190 more in the report"),
            },
            {
                "type": "section",
                "text": mrkdwn(
                    "*Recovered (2)*\n`i-f0000000000000000` test\n`i-f0000000000000001` test"
                ),
            },
            {
                "type": "context",
                "elements": [
                    mrkdwn(
                        "fleetpatch run `digest-20261121T0600Z` | "
                        "<https://example.com/d.html|report>"
                    )
                ],
            },
        ],
    }
    named = [t for t in texts(message) if "i-" in t]
    assert sum(t.count("`i-") for t in named) == LISTED + 2


def test_a_digest_of_recoveries_only_is_good_news() -> None:
    message = message_for(digest(0, 1), report_url=None)
    assert message["blocks"][0]["text"]["text"] == (
        ":white_check_mark: compliance digest: 1 recovered (test)"
    )
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]


def test_the_fallback_message_is_the_notification_as_sent() -> None:
    message = fallback_message(
        "prod wave: windows-apps held, 1 of 2 instances failed",
        "prod wave: windows-apps held\n\nOutcome: held\n",
        {"kind": "wave", "environment": "prod", "outcome": "held", "run": RUN, "extra": "x"},
    )
    assert message == {
        "text": "prod wave: windows-apps held, 1 of 2 instances failed",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":octagonal_sign: prod wave: windows-apps held, 1 of 2 instances failed",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": mrkdwn("```prod wave: windows-apps held\n\nOutcome: held\n```"),
            },
            {
                "type": "context",
                "elements": [mrkdwn(f"kind: wave | environment: prod | run: {RUN}")],
            },
        ],
    }


def test_the_fallback_without_attributes() -> None:
    message = fallback_message("fleetpatch", "x" * 5000, {})
    assert message["blocks"][0]["text"]["text"] == ":information_source: fleetpatch"
    assert message["blocks"][2]["elements"] == [mrkdwn("fleetpatch")]
    code = message["blocks"][1]["text"]["text"]
    assert len(code) <= 2900
    assert code.startswith("```xxx")
    assert code.endswith("\u2026```")


def test_the_header_is_clipped_to_slacks_150_characters() -> None:
    message = fallback_message("s" * 300, "text", {"outcome": "failed"})
    header = message["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.startswith(":x: sss")
    assert header.endswith("\u2026")
    assert message["text"] == "s" * 300  # the notification text Slack shows is not a header


# --- escaping -----------------------------------------------------------------------------------


def test_a_failure_reason_cannot_ping_the_channel_or_fake_a_link() -> None:
    message = message_for(held_wave(failure=HOSTILE), report_url=None)
    failed = texts(message)[-2]
    assert failed == f"*Failed (1)*\n`i-0db00000000000002` failed: {ESCAPED}"


def test_gate_reasons_summary_and_batch_names_are_escaped() -> None:
    report = held_wave(gate=HOSTILE).model_copy(update={"summary": f"summary {HOSTILE}"})
    batches = [b.model_copy(update={"name": f"{b.name}<!here>"}) for b in report.batches]
    message = message_for(report.model_copy(update={"batches": batches}), report_url=None)
    every = "\n".join(texts(message)[1:])  # the header is plain text: Slack does not parse it
    assert f"summary {ESCAPED}" in every
    assert f"gate failed: {ESCAPED}" in every
    assert "*linux-databases&lt;!here&gt;*: ran" in every
    assert "<!" not in every
    assert "<http" not in every


def test_digest_locations_are_escaped() -> None:
    entry = DriftEntry(
        instance_id=INSTANCE,
        transition="drifted",
        at=T0,
        environment="prod",
        patch_group="<!channel>",
    )
    report = DigestReport(run_id="digest-1", started_at=T0, ended_at=T0, entries=[entry])
    assert texts(message_for(report, report_url=None))[2] == (
        f"*Drifted (1)*\n`{INSTANCE}` prod/&lt;!channel&gt;"
    )


def test_the_run_reason_in_the_outcome_field_is_escaped() -> None:
    report = held_wave().model_copy(update={"reason": HOSTILE})
    outcome = message_for(report, report_url=None)["blocks"][2]["fields"][0]["text"]
    assert outcome == f"*Outcome*\nheld ({ESCAPED})"


def test_the_fallback_text_is_escaped() -> None:
    message = fallback_message("subject", f"Batch x\n  i-1 failed - {HOSTILE}\n", {})
    assert message["blocks"][1]["text"]["text"] == f"```Batch x\n  i-1 failed - {ESCAPED}\n```"
