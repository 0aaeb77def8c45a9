"""``fleetpatch local up``: the local cloud served over HTTP on the loopback interface.

The in-process boto3 clients always reach moto through ``mock_aws``, whatever their
endpoint, so they cannot show that the HTTP side works. The requests here are raw HTTP
with ``urllib``, as the AWS CLI in another process would send them (moto reads only the
credential scope of the SigV4 ``Authorization`` header: region and service).

Unit tests run with sockets disabled. The tests that serve enable them for 127.0.0.1 only
(:func:`loopback_only`); the refusals run with sockets disabled, which also shows that
they happen before anything is bound or resolved.
"""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_socket import SocketConnectBlockedError, socket_allow_hosts
from rich.console import Console

from localcloud import cloud as cloud_module
from localcloud.cloud import REPO_ROOT
from localcloud.server import serve, serve_forever

MACHINE = "fleetpatch-default-patch-new-instance"

TINY_TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Alerts:
    Type: AWS::SNS::Topic
Outputs:
  AlertsTopicArn:
    Value: !Ref Alerts
"""


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sockets for 127.0.0.1 and nothing else (with ``@pytest.mark.enable_socket``).

    pytest-socket's ``allow_hosts`` marker cannot do this here: the ``enable_socket``
    marker wins over it, and without that marker the unit conftest's ``disable_socket``
    leaves no socket to connect. So: enable, then restrict connects to loopback, and keep
    name resolution to the numeric loopback address (no DNS query leaves either).
    """
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    resolve = socket.getaddrinfo

    def loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            raise OSError(f"test resolves only 127.0.0.1, not {host!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_getaddrinfo)


def aws_request(
    endpoint: str,
    service: str,
    *,
    body: bytes,
    headers: dict[str, str],
    region: str = "eu-central-1",
) -> str:
    """One API call over HTTP, signed in shape only (moto checks no signature)."""
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=testing/20261107/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0"
    )
    request = urllib.request.Request(
        f"{endpoint}/",
        data=body,
        method="POST",
        headers={**headers, "Authorization": authorization},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{exc.code}: {exc.read().decode()}") from None


def json_call(
    endpoint: str, service: str, target: str, payload: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    version = "1.0" if target.startswith("AWSStepFunctions.") else "1.1"
    answer = aws_request(
        endpoint,
        service,
        body=json.dumps(payload).encode(),
        headers={"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"},
        **kwargs,
    )
    result: dict[str, Any] = json.loads(answer)
    return result


def assert_released(port: int) -> None:
    """Nothing listens on the port and no cloud runs in the process."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="no LocalCloud is running"):
        cloud_module.active()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_refuses_to_listen_off_loopback(host: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(host))):
        serve(host, 0)


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan")])
def test_refuses_a_discrete_clock(factor: float) -> None:
    # Nobody would drive it: simulated time would stand still while serving.
    with pytest.raises(ValueError, match="local up needs a time factor above 0"):
        serve("127.0.0.1", 0, time_factor=factor)


@pytest.mark.enable_socket
@pytest.mark.usefixtures("loopback_only")
@pytest.mark.skipif(not (REPO_ROOT / "template.yaml").exists(), reason="no template.yaml yet")
def test_http_clients_share_the_cloud_and_its_extensions() -> None:
    before = datetime.now(UTC).replace(microsecond=0)  # the clock starts on a whole second
    with serve(port=0) as server:
        endpoint = server.endpoint
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint)
        assert server.port != 0
        # The simulated clock started at the current time (1 real s per simulated s).
        elapsed = (server.cloud.clock.now() - before).total_seconds()
        assert 0 <= elapsed < (datetime.now(UTC) - before).total_seconds() + 1

        # moto lacks DescribeMaintenanceWindowSchedule (an HTTP 500 before): answered.
        schedule = json_call(endpoint, "ssm", "AmazonSSM.DescribeMaintenanceWindowSchedule", {})
        assert {e["Name"] for e in schedule["ScheduledWindowExecutions"]} >= {
            "fleetpatch-default-wave-test"
        }

        # Deployed in-process, listed over HTTP: one set of moto backends.
        machines = json_call(endpoint, "states", "AWSStepFunctions.ListStateMachines", {})
        assert MACHINE in [m["name"] for m in machines["stateMachines"]]
        # The stack exists in the cloud's region only, as the banner says.
        elsewhere = json_call(
            endpoint, "states", "AWSStepFunctions.ListStateMachines", {}, region="us-east-1"
        )
        assert elsewhere["stateMachines"] == []

        # fleetpatch's extensions answer HTTP requests too: stock moto lists no
        # predefined baselines.
        baselines = json_call(endpoint, "ssm", "AmazonSSM.DescribePatchBaselines", {})
        names = [b["BaselineName"] for b in baselines["BaselineIdentities"]]
        assert "AWS-AmazonLinux2DefaultPatchBaseline" in names

        # Written over HTTP, read in-process.
        json_call(
            endpoint,
            "ssm",
            "AmazonSSM.PutParameter",
            {"Name": "/explore/note", "Value": "from the CLI", "Type": "String"},
        )
        parameter = server.cloud.client("ssm").get_parameter(Name="/explore/note")
        assert parameter["Parameter"]["Value"] == "from the CLI"

        # A notification reaches the local Slack webhook (the secret names it), not the
        # notifier's dead-letter queue; the control plane's alarms are evaluated.
        assert server.slack is not None
        assert server.cloud.alarms.enabled
        server.cloud.client("sns").publish(
            TopicArn=server.stack.physical_id("ReportsTopic"), Subject="hello", Message="local"
        )
        [posted] = server.slack.wait_for(1, timeout=60)
        assert posted.body["text"] == "hello"

        # The fixture keeps every other address out, loopback neighbours included.
        with (
            pytest.raises(SocketConnectBlockedError),
            pytest.warns(UserWarning, match="127.0.0.2"),  # pytest-socket warns as it blocks
            socket.socket() as neighbour,
        ):
            neighbour.connect(("127.0.0.2", server.port))

    assert not server.serving
    assert_released(server.port)


@pytest.mark.enable_socket
@pytest.mark.usefixtures("loopback_only")
def test_serve_forever_prints_how_to_reach_it_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TINY_TEMPLATE)
    output = io.StringIO()
    seen: dict[str, Any] = {}
    sigterm = signal.getsignal(signal.SIGTERM)

    def sleep(seconds: float) -> None:
        # The banner is out by the time the loop waits: a person can start exploring.
        banner = output.getvalue()
        endpoint = re.search(r"endpoint\s+(http://127\.0\.0\.1:\d+)", banner)
        assert endpoint, banner
        seen["endpoint"] = endpoint.group(1)
        seen["banner"] = banner
        seen["topics"] = aws_request(
            seen["endpoint"],
            "sns",
            body=b"Action=ListTopics&Version=2010-03-31",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        raise KeyboardInterrupt

    serve_forever(
        host="127.0.0.1",
        port=0,
        time_factor=0.5,
        template=template,
        start=datetime(2026, 11, 7, 4, 0, tzinfo=UTC),
        sleep=sleep,
        console=Console(file=output, width=200),
    )

    endpoint, banner = seen["endpoint"], seen["banner"]
    topic_arn = re.search(r"AlertsTopicArn\s+(\S+)", banner)
    assert topic_arn, banner
    assert topic_arn.group(1) in seen["topics"]
    assert re.search(r"region\s+eu-central-1", banner)
    assert "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing" in banner
    assert f"aws --endpoint-url {endpoint} stepfunctions list-state-machines" in banner
    assert "0.5 real s per simulated s" in banner
    assert "simulated, now 2026-11-07T04:0" in banner  # --start, not the current time
    # The simulator's images, registered in EC2 for RunInstances over HTTP.
    assert re.search(r"AMAZON_LINUX_2023\s+ami-[0-9a-f]{17}", banner)
    assert re.search(r"slack\s+http://127\.0\.0\.1:\d+/services/", banner)
    assert output.getvalue().rstrip().endswith("stopped")
    assert signal.getsignal(signal.SIGTERM) == sigterm
    assert_released(int(endpoint.rsplit(":", 1)[1]))


def test_a_failing_sandbox_pump_is_shown_and_the_server_goes_on() -> None:
    from types import SimpleNamespace

    from localcloud.server import _print_timeline

    def pump() -> list[Any]:
        raise RuntimeError("logs unavailable")

    output = io.StringIO()
    server: Any = SimpleNamespace(sandbox=SimpleNamespace(pump=pump))
    _print_timeline(server, Console(file=output, width=200))
    assert output.getvalue() == "sandbox: RuntimeError: logs unavailable\n"
