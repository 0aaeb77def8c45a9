"""Slack: Block Kit for runs and digests, escaping, the webhook secret, and sending with retries.

The send tests post to the local webhook receiver (localcloud.slack) on 127.0.0.1 only,
with slack-sdk's retry sleeps recorded instead of slept.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from pytest_socket import socket_allow_hosts

from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)
from fleetpatch.slack_message import (
    LISTED,
    SlackNotConfigured,
    SlackNotDelivered,
    fallback_message,
    message_for,
    send,
    webhook_url,
)
from localcloud.slack import SlackWebhookReceiver

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
RUN = "wave-prod-20261121T0500Z"
INSTANCE = "i-0a1b2c3d4e5f60718"
HOSTILE = "<!channel> see <http://x|y> & more"
ESCAPED = "&lt;!channel&gt; see &lt;http://x|y&gt; &amp; more"


def held_wave(
    *, failure: str = "AWS-RunPatchBaseline ended Failed", gate: str | None = None
) -> RunReport:
    return RunReport(
        kind="wave",
        run_id=RUN,
        title="prod wave",
        outcome="held",
        reason="gate failed",
        summary="The gate before windows-apps failed.",
        environment="prod",
        trigger="window",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=40),
        batches=[
            BatchResult(
                name="linux-databases",
                status="ran",
                instances=[
                    InstanceResult(
                        instance_id="i-0db00000000000001",
                        outcome="patched",
                        installed=4,
                        missing=0,
                        failed=0,
                        pending_reboot=0,
                    ),
                    InstanceResult(
                        instance_id="i-0db00000000000002", outcome="failed", reason=failure
                    ),
                ],
            ),
            BatchResult(
                name="windows-apps",
                status="held",
                gate=GateSummary(
                    passed=False,
                    reasons=[gate or "1 instance failed in linux-databases (max 0)"],
                    checked=["linux-databases"],
                ),
                instances=[
                    InstanceResult(
                        instance_id="i-0ap00000000000001",
                        outcome="not-reached",
                        reason="its batch was held by a gate",
                    )
                ],
            ),
        ],
    )


def launch(
    outcome: str,
    instance: InstanceResult,
    reason: str | None = None,
    lifecycle: Literal["CONTINUE", "ABANDON"] | None = "CONTINUE",
) -> RunReport:
    return RunReport(
        kind="launch",
        run_id="launch-i-0a1b2c3d4e5f60718-1",
        title=f"launch of {INSTANCE}",
        outcome=outcome,
        reason=reason,
        summary="patched on launch: 12 patches installed",
        environment="test",
        trigger="launch",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=7, seconds=5),
        auto_scaling_group="web-test" if lifecycle else None,
        lifecycle_result=lifecycle,
        batches=[
            BatchResult(
                name="patch_test_0600_batch_1",
                patch_groups=["patch_test_0600_batch_1"],
                status="ran",
                instances=[instance],
            )
        ],
    )


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def texts(message: dict[str, Any]) -> list[str]:
    """Every text in a message's blocks, in order."""
    found = []
    for block in message["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [f["text"] for f in block.get("fields", [])]
        found += [e["text"] for e in block.get("elements", [])]
    return found


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


def digest(drifted: int, recovered: int = 0) -> DigestReport:
    entries = [
        DriftEntry(
            instance_id=f"i-{n:017x}",
            transition="drifted",
            at=T0 + timedelta(seconds=n),
            environment="prod",
            patch_group="patch_prod_0600_batch_1",
            severity="critical",
        )
        for n in range(drifted)
    ] + [
        DriftEntry(
            instance_id=f"i-f{n:016x}",
            transition="recovered",
            at=T0 + timedelta(minutes=30),
            environment="test",
        )
        for n in range(recovered)
    ]
    return DigestReport(
        run_id="digest-20261121T0600Z",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        entries=entries,
    )


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


# --- the webhook secret -------------------------------------------------------------------------

SECRET_URL = "https://hooks.slack.com/services/T0123/B0456/s3cr3tt0k3n"


@pytest.mark.parametrize(
    "secret",
    [
        SECRET_URL,
        f"  {SECRET_URL}\n",
        f'{{"webhook_url": "{SECRET_URL}"}}',
        f'{{"url": "{SECRET_URL}"}}',
    ],
    ids=["url", "url-with-whitespace", "json-webhook_url", "json-url"],
)
def test_the_webhook_url_from_the_secret(secret: str) -> None:
    assert webhook_url(secret) == SECRET_URL


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("xoxb-s3cr3tt0k3n", "the Slack secret holds no webhook URL"),
        ("", "the Slack secret holds no webhook URL"),
        ('{"token": "xoxb-s3cr3tt0k3n"}', "the Slack secret holds no webhook URL"),
        ('{"webhook_url": "ftp://s3cr3tt0k3n"}', "the Slack secret holds no webhook URL"),
        ('{"webhook_url": s3cr3tt0k3n', "the Slack secret is neither a URL nor JSON"),
    ],
    ids=["token", "empty", "json-without-url", "not-http", "broken-json"],
)
def test_a_secret_without_a_webhook_url_is_refused_without_echoing_it(
    secret: str, message: str
) -> None:
    with pytest.raises(SlackNotConfigured) as raised:
        webhook_url(secret)
    assert str(raised.value) == message
    assert "s3cr3tt0k3n" not in repr(raised.value)
    # No chained error carries it into a traceback either.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


# --- sending ------------------------------------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sockets to 127.0.0.1 only (as tests/unit/localcloud/test_slack.py), and no proxy."""
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    resolve = socket.getaddrinfo

    def loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            raise OSError(f"test resolves only 127.0.0.1, not {host!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_getaddrinfo)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """slack-sdk's retry waits, recorded instead of slept (the suite stays fast)."""
    from slack_sdk.http_retry import builtin_handlers, handler

    waited: list[float] = []
    fake_time = SimpleNamespace(sleep=waited.append)
    monkeypatch.setattr(handler, "time", fake_time)
    monkeypatch.setattr(builtin_handlers, "time", fake_time)
    return waited


@pytest.fixture
def slack(loopback_only: None) -> Iterator[SlackWebhookReceiver]:
    with SlackWebhookReceiver() as receiver:
        yield receiver


MESSAGE = {"text": "prod wave: done", "blocks": [{"type": "section", "text": mrkdwn("done")}]}


@pytest.mark.enable_socket
def test_send_posts_the_message(slack: SlackWebhookReceiver, sleeps: list[float]) -> None:
    assert send(slack.url, MESSAGE) == 200
    assert slack.delivered == [MESSAGE]
    assert sleeps == []


@pytest.mark.enable_socket
def test_send_retries_server_errors_twice_then_gives_up(
    slack: SlackWebhookReceiver, sleeps: list[float]
) -> None:
    slack.fail_next(10)
    with pytest.raises(SlackNotDelivered) as raised:
        send(slack.url, MESSAGE)
    assert str(raised.value) == "Slack webhook answered 500: internal_error"
    assert "localcloudsecret" not in str(raised.value)
    assert [m.status for m in slack.messages] == [500, 500, 500]  # 1 + 2 retries
    # Backoff 0.25 s then 0.5 s, each with up to a second of jitter.
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] < 1.25
    assert 0.5 <= sleeps[1] < 1.5


@pytest.mark.enable_socket
def test_send_waits_out_a_rate_limit(slack: SlackWebhookReceiver, sleeps: list[float]) -> None:
    slack.fail_next(1, status=429)
    assert send(slack.url, MESSAGE) == 200
    assert [m.status for m in slack.messages] == [429, 200]
    assert slack.delivered == [MESSAGE]
    [waited] = sleeps
    assert 1 <= waited < 2  # Retry-After: 1, plus jitter


@pytest.mark.enable_socket
def test_send_recovers_from_one_server_error(
    slack: SlackWebhookReceiver, sleeps: list[float]
) -> None:
    slack.fail_next(1, status=503)
    assert send(slack.url, MESSAGE) == 200
    assert [m.status for m in slack.messages] == [503, 200]
    assert len(sleeps) == 1


@pytest.mark.enable_socket
def test_send_does_not_retry_a_refused_payload(
    slack: SlackWebhookReceiver, sleeps: list[float]
) -> None:
    slack.fail_next(1, status=400)
    with pytest.raises(SlackNotDelivered, match="answered 400"):
        send(slack.url, MESSAGE)
    assert len(slack.messages) == 1
    assert sleeps == []


@pytest.mark.enable_socket
@pytest.mark.usefixtures("loopback_only")
def test_an_unreachable_webhook_is_not_delivered_and_not_named(sleeps: list[float]) -> None:
    receiver = SlackWebhookReceiver().start()
    url = receiver.url
    receiver.stop()  # nothing listens on the port any more
    with pytest.raises(SlackNotDelivered) as raised:
        send(url, MESSAGE)
    assert str(raised.value) == "Slack webhook failed: URLError"
    assert raised.value.__cause__ is None
    assert len(sleeps) == 2  # connection errors are retried twice too


def test_send_uses_the_client_factory() -> None:
    posted: list[dict[str, Any]] = []

    class Client:
        def send(self, **payload: Any) -> Any:
            posted.append(payload)
            return SimpleNamespace(status_code=200, body="ok")

    urls: list[str] = []

    def factory(url: str) -> Client:
        urls.append(url)
        return Client()

    assert send(SECRET_URL, MESSAGE, client_factory=factory) == 200
    assert urls == [SECRET_URL]
    assert posted == [{"text": MESSAGE["text"], "blocks": MESSAGE["blocks"]}]


def test_a_client_that_raises_is_not_delivered_without_its_details() -> None:
    class Broken:
        def send(self, **payload: Any) -> Any:
            raise RuntimeError(f"cannot reach {SECRET_URL}")

    with pytest.raises(SlackNotDelivered) as raised:
        send(SECRET_URL, MESSAGE, client_factory=lambda url: Broken())
    assert str(raised.value) == "Slack webhook failed: RuntimeError"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
