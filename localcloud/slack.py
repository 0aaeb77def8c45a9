"""A local Slack incoming-webhook receiver: what the notifier posts, kept for tests to read.

    with SlackWebhookReceiver() as slack:
        notify(webhook_url=slack.url)                 # any HTTP client, slack_sdk included
        assert slack.messages[0].body["text"] == "..."
        slack.fail_next(2, status=429)                # exercise the sender's retries

Slack is not AWS, so moto has nothing for it, and a webhook URL leaving the machine from
a test would post to a real channel. This is a real HTTP server (``ThreadingHTTPServer``
in a daemon thread) bound to 127.0.0.1 on an ephemeral port: the code under test talks
HTTP to it exactly as it would to ``hooks.slack.com``, proxies and TLS aside.

It answers as Slack's incoming webhooks do: ``200`` with body ``ok``; ``400
invalid_payload`` for a body that is not JSON (nor a form with a JSON ``payload`` field,
the legacy encoding Slack still accepts); ``404 no_service`` off ``/services/``. Every
request to ``/services/...`` is recorded, answered or failed, in arrival order.

Unit tests block sockets (pytest-socket): a test that uses the receiver needs
``@pytest.mark.enable_socket`` and should keep connections to 127.0.0.1 (see
tests/unit/localcloud/test_slack.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

LOG = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Shaped like a real webhook path (/services/<team>/<bot>/<secret>), so code that checks
# or logs the URL's shape behaves as it would with the real one.
WEBHOOK_PATH = "/services/T00000000/B00000000/localcloudsecret"


@dataclass(frozen=True)
class SlackRequest:
    """One request the receiver got, and what it answered."""

    path: str
    # Header names lower-cased: HTTP header names are case-insensitive, and clients
    # differ (urllib sends "Content-type").
    headers: dict[str, str]
    # The parsed JSON payload; None when the body was not a payload Slack would accept.
    body: Any
    raw: bytes
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: SlackWebhookReceiver) -> None:
        super().__init__((HOST, 0), _Handler)
        self.receiver = receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        if not self.path.startswith("/services/"):
            self._answer(404, "no_service")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = _payload(raw, self.headers.get("Content-Type", ""))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, text = self.server.receiver._answer_for(body)
        # Recorded before the answer goes out: once the client has its response, the
        # message is in ``messages`` (no waiting needed after a synchronous post).
        self.server.receiver._record(SlackRequest(self.path, headers, body, raw, status))
        self._answer(status, text)

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The base class writes every request to stderr.
        LOG.debug("slack receiver: " + format, *args)


def _payload(raw: bytes, content_type: str) -> Any:
    try:
        if content_type.split(";", maxsplit=1)[0].strip() == "application/x-www-form-urlencoded":
            return json.loads(parse_qs(raw.decode())["payload"][0])
        return json.loads(raw)
    except (ValueError, KeyError, UnicodeDecodeError):
        return None


class SlackWebhookReceiver:
    """A Slack incoming webhook on 127.0.0.1; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[SlackRequest] = []
        self._failures: list[int] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackWebhookReceiver:
        if self._server is not None:
            raise RuntimeError("the Slack receiver is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll interval
            name="slack-webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackWebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- using it -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Slack receiver is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The webhook URL to hand to the code under test."""
        return f"http://{HOST}:{self.port}{WEBHOOK_PATH}"

    @property
    def messages(self) -> list[SlackRequest]:
        """Every request so far, in arrival order (a copy: safe to read while serving)."""
        with self._lock:
            return list(self._messages)

    @property
    def delivered(self) -> list[Any]:
        """The payloads Slack would have posted: the bodies of requests answered 200."""
        return [m.body for m in self.messages if m.status == 200]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._failures.clear()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` (429 adds ``Retry-After: 1``)."""
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next needs a count >= 0 and an error status (4xx or 5xx)")
        with self._lock:
            self._failures.extend([status] * count)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[SlackRequest]:
        """Block until ``count`` requests have arrived (for senders in other threads)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self._messages)} Slack request(s) arrived, expected {count}"
                    )
                self._arrived.wait(remaining)
            return list(self._messages)

    # --- called from the server's threads -------------------------------------------------

    def _answer_for(self, body: Any) -> tuple[int, str]:
        with self._lock:
            if self._failures:
                return self._failures.pop(0), "internal_error"
        if body is None:
            return 400, "invalid_payload"
        return 200, "ok"

    def _record(self, request: SlackRequest) -> None:
        with self._arrived:
            self._messages.append(request)
            self._arrived.notify_all()
