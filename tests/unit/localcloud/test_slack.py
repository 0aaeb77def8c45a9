"""The local Slack webhook receiver: records what is posted, answers and fails like Slack.

Unit tests run with sockets disabled; these enable them for 127.0.0.1 only (the same
restriction as test_server.py's ``loopback_only``), so nothing here can reach Slack.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_socket import socket_allow_hosts

from localcloud.slack import SlackWebhookReceiver

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("loopback_only")]


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    resolve = socket.getaddrinfo

    def loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            raise OSError(f"test resolves only 127.0.0.1, not {host!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_getaddrinfo)
    # A proxy from the environment would take even a loopback request elsewhere.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[SlackWebhookReceiver]:
    with SlackWebhookReceiver() as receiver:
        yield receiver


def post(url: str, data: bytes, content_type: str = "application/json") -> tuple[int, str, Any]:
    """POST with urllib, no proxies: (status, body, headers), for errors too."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def test_a_posted_message_is_recorded_and_answered_ok(slack: SlackWebhookReceiver) -> None:
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/services/T00000000/B00000000/localcloudsecret", slack.url
    )
    status, body, _ = post(slack.url, json.dumps({"text": "patched 12 instances"}).encode())
    assert (status, body) == (200, "ok")
    # Recorded before the answer: no waiting after a synchronous post.
    [message] = slack.messages
    assert message.path == "/services/T00000000/B00000000/localcloudsecret"
    assert message.body == {"text": "patched 12 instances"}
    assert message.headers["content-type"] == "application/json"
    assert message.status == 200
    assert slack.delivered == [{"text": "patched 12 instances"}]


def test_fail_next_answers_errors_then_recovers(slack: SlackWebhookReceiver) -> None:
    slack.fail_next(2)
    slack.fail_next(1, status=429)
    payload = json.dumps({"text": "retry me"}).encode()
    answers = [post(slack.url, payload) for _ in range(4)]
    assert [(status, body) for status, body, _ in answers] == [
        (500, "internal_error"),
        (500, "internal_error"),
        (429, "internal_error"),
        (200, "ok"),
    ]
    assert answers[1][2]["Retry-After"] is None
    assert answers[2][2]["Retry-After"] == "1"
    assert [m.status for m in slack.messages] == [500, 500, 429, 200]
    assert slack.delivered == [{"text": "retry me"}]


def test_payloads_slack_would_refuse(slack: SlackWebhookReceiver) -> None:
    base = slack.url.split("/services/")[0]
    assert post(f"{base}/api/chat.postMessage", b"{}")[:2] == (404, "no_service")
    assert post(slack.url, b"not json")[:2] == (400, "invalid_payload")
    # the legacy form encoding is accepted
    form = urllib.parse.urlencode({"payload": json.dumps({"text": "form"})}).encode()
    assert post(slack.url, form, "application/x-www-form-urlencoded")[:2] == (200, "ok")
    assert [(m.status, m.body) for m in slack.messages] == [
        (400, None),
        (200, {"text": "form"}),
    ]


def test_wait_for_a_sender_in_another_thread(slack: SlackWebhookReceiver) -> None:
    sender = threading.Thread(target=post, args=(slack.url, b'{"text": "later"}'))
    sender.start()
    [message] = slack.wait_for(1)
    sender.join()
    assert message.body == {"text": "later"}
    with pytest.raises(TimeoutError, match="1 Slack request"):
        slack.wait_for(2, timeout=0.05)


def test_stop_releases_the_port() -> None:
    receiver = SlackWebhookReceiver().start()
    port = receiver.port
    receiver.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    receiver.stop()  # idempotent


def test_slack_sdk_webhook_client_posts_to_it(slack: SlackWebhookReceiver) -> None:
    webhook = pytest.importorskip("slack_sdk.webhook")
    client = webhook.WebhookClient(slack.url)
    response = client.send(text="hi")
    assert (response.status_code, response.body) == (200, "ok")
    assert slack.delivered == [{"text": "hi"}]
    slack.fail_next(1)
    failed = client.send(text="again")  # no retry handlers configured: one attempt
    assert (failed.status_code, failed.body) == (500, "internal_error")
