"""Slack: the webhook secret, and sending with retries.

The send tests post to the local webhook receiver (localcloud.slack) on 127.0.0.1 only,
with slack-sdk's retry sleeps recorded instead of slept.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pytest_socket import socket_allow_hosts

from fleetpatch.slack_message import (
    SlackNotConfigured,
    SlackNotDelivered,
    send,
    webhook_url,
)
from localcloud.slack import SlackWebhookReceiver
from tests.unit.slack_samples import mrkdwn

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
