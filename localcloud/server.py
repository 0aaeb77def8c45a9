"""``fleetpatch local up``: the local cloud as an HTTP endpoint on the loopback interface.

    with serve(port=0) as server:        # the real template.yaml, deployed
        print(server.endpoint)           # http://127.0.0.1:PORT
        ...                              # aws --endpoint-url ... from any other process

One process holds both halves. The :class:`~localcloud.cloud.LocalCloud` (moto's
``mock_aws``, fleetpatch's extensions, the simulated fleet and clock) serves the boto3
clients of this process, among them the Lambda handlers it runs. moto's HTTP front end
(the Flask app ``moto_server`` runs) serves clients in other processes, such as the AWS
CLI. moto's backends and the extensions' patches are process-wide, so both halves see and
change the same account: a state machine started over HTTP runs on the simulated fleet.

The clock runs continuously (``time_factor`` real seconds per simulated second) from the
current time (or ``start``), and a background thread fires its timers, as nobody is there to
drive a discrete clock. :mod:`localcloud.sandbox` adds what exploring needs: a scenario's
fleet, the simulator's images, an e-mail inbox queue, Lambda logs and the timeline.
"""

from __future__ import annotations

import ipaddress
import json
import math
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from rich.console import Console
from werkzeug.serving import BaseWSGIServer, make_server

from localcloud.cloud import LocalCloud
from localcloud.sandbox import Sandbox
from localcloud.slack import SlackWebhookReceiver

if TYPE_CHECKING:
    from localcloud.deployer.stack import Stack
    from localcloud.scenario import Scenario

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LocalServer", "serve", "serve_forever"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566  # LocalStack's port, which tools and habits already point at

# How long the HTTP thread may take to notice a shutdown request (werkzeug polls).
_POLL_SECONDS = 0.1

# moto accepts any credentials; these are the ones the in-process clients use, and setting
# all three keeps a shell's real session token from riding along with them.
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def _loopback(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The loopback address to bind for ``host``; anything else is refused.

    The local cloud accepts any credentials and runs the handlers' code: reachable from
    the network, it would be an open, unauthenticated AWS look-alike. Host names other
    than ``localhost`` are refused without resolving them.
    """
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"the local cloud only listens on the loopback interface, not on {host!r} "
            "(use 127.0.0.1, ::1 or localhost)"
        )
    return address


def _check_time_factor(time_factor: float) -> None:
    if not (time_factor > 0 and math.isfinite(time_factor)):
        raise ValueError(
            f"local up needs a time factor above 0 (got {time_factor:g} real seconds per "
            "simulated second): 0 is a discrete clock, which only moves when driven, and a "
            "server waiting for requests has nothing to drive it"
        )


class _MotoHttpServer:
    """moto's HTTP front end on a socket bound by the caller.

    This is what ``moto.server.ThreadedMotoServer`` runs, but the socket is bound here, in
    the calling thread: ThreadedMotoServer binds inside its thread, and on a port already
    in use werkzeug exits that thread, so ``ThreadedMotoServer.start()`` waits forever for
    a server that never comes up. Bound here, a busy port is an ``OSError`` at once.
    Binding also comes before the deploy, so a busy port fails in milliseconds, while
    requests are only answered once the stack is complete (until then they wait in the
    listen backlog).
    """

    def __init__(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> None:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        listener = socket.create_server((str(address), port), family=family)
        try:
            # werkzeug serves a duplicate of the descriptor; ours is closed right after.
            self._server: BaseWSGIServer = make_server(
                str(address),
                listener.getsockname()[1],
                DomainDispatcherApplication(create_backend_app),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name="moto-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        # Never served, or served and stopped: either way the port is released here.
        self._server.server_close()


class LocalServer:
    """A running local cloud with its stack deployed, reachable over HTTP on loopback."""

    def __init__(
        self,
        cloud: LocalCloud,
        stack: Stack,
        http: _MotoHttpServer,
        host: str,
        slack: SlackWebhookReceiver | None = None,
        *,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.cloud = cloud
        self.stack = stack
        self.slack = slack
        self.sandbox = sandbox
        self._http = http
        self._host = host
        self._stopped = False

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def endpoint(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def region(self) -> str:
        return self.cloud.region

    @property
    def serving(self) -> bool:
        """False once stopped, or if the HTTP thread died."""
        return not self._stopped and self._http.serving

    def stop(self) -> None:
        """Stop answering requests, then stop the cloud (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._http.stop()
        finally:
            if self.slack is not None:
                self.slack.stop()
            self.cloud.stop()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    time_factor: float = 1.0,
    template: Path | None = None,
    start: datetime | None = None,
    scenario: Scenario | None = None,
) -> LocalServer:
    """Start the local cloud, deploy ``template`` and serve it over HTTP on ``host:port``.

    ``port`` 0 picks a free port (see :attr:`LocalServer.endpoint`). The simulated clock
    starts at ``start`` (default: now, to the second), so what the AWS CLI sends and
    reads (``put-events`` times, ``--since`` windows) agrees with it. ``scenario``: its
    template parameters, fleet and groups (its steps are not played). The server is
    running when this returns; stop it with :meth:`LocalServer.stop` or a ``with`` block.
    """
    address = _loopback(host)
    _check_time_factor(time_factor)
    if start is not None and start.utcoffset() is None:
        raise ValueError(f"the start time needs a time zone (got {start.isoformat()})")
    http = _MotoHttpServer(address, port)
    cloud = LocalCloud(
        time_factor=time_factor, start=start or datetime.now(UTC).replace(microsecond=0)
    )
    # Held until it serves (start_driver): the banner reads ``start``, not ``start`` plus
    # the real seconds of the start-up and the deploy over the time factor.
    cloud.clock.pause()
    try:
        # Refused when another LocalCloud runs in the process; stopping this one would
        # then uninstall that one's clock, so only the port is released.
        cloud.start()
    except BaseException:
        http.stop()
        raise
    slack = SlackWebhookReceiver()
    try:
        stack = cloud.deploy(template, scenario.parameters if scenario else None)
        # Notifications go somewhere a person can see (not, failing, to the notifier's
        # dead-letter queue), and the control plane's alarms are evaluated, as in AWS.
        slack.start()
        _connect_slack(cloud, stack, slack)
        sandbox = Sandbox.prepare(cloud, stack, scenario)
        cloud.alarms.enabled = True
        cloud.clock.start_driver()
        http.start()
    except BaseException:
        # Ctrl-C during the deploy included: leave no port bound and no cloud running.
        slack.stop()
        http.stop()
        cloud.stop()
        raise
    return LocalServer(cloud, stack, http, str(address), slack, sandbox=sandbox)


def _connect_slack(cloud: LocalCloud, stack: Stack, slack: SlackWebhookReceiver) -> None:
    """The local receiver's URL in the webhook secret the deployed policy names.

    Without it the Slack notifier cannot read its secret: every notification failed, was
    retried and parked in the notifier's dead-letter queue, where no one looked.
    """
    secret = str(stack.outputs.get("SlackWebhookSecret") or "")
    if secret:
        cloud.client("secretsmanager").create_secret(
            Name=secret, SecretString=json.dumps({"webhook_url": slack.url})
        )


def _examples(server: LocalServer) -> list[str]:
    """Commands worth a first try, with the stack's own names where it has them."""
    aws = f"aws --endpoint-url {server.endpoint}"
    outputs = server.stack.outputs
    commands = [
        f"{aws} stepfunctions list-state-machines",
        f"{aws} lambda list-functions --query 'Functions[].FunctionName'",
    ]
    machine = outputs.get("PatchNewInstanceStateMachineArn")
    if machine:
        commands.append(f"{aws} stepfunctions list-executions --state-machine-arn {machine}")
    table = outputs.get("StateTableName")
    if table:
        commands.append(f"{aws} dynamodb scan --table-name {table}")
    commands += [
        f"{aws} ssm describe-instance-information",
        f"{aws} ssm describe-maintenance-window-schedule",
        f"{aws} cloudformation describe-stacks --stack-name {server.stack.name}",
    ]
    groups = server.cloud.client("autoscaling").describe_auto_scaling_groups()
    for group in groups["AutoScalingGroups"][:1]:
        commands.append(
            f"{aws} autoscaling set-desired-capacity --auto-scaling-group-name "
            f"{group['AutoScalingGroupName']} --desired-capacity {group['DesiredCapacity'] + 1}"
        )
        commands.append(f"{aws} autoscaling describe-auto-scaling-instances")
    function = outputs.get("PatchOnLaunchFunctionName")
    if function:
        commands.append(f"{aws} logs filter-log-events --log-group-name /aws/lambda/{function}")
    queue = _email_queue_url(server)
    if queue:
        commands.append(f"{aws} sqs receive-message --queue-url {queue}")
    return commands


def _email_queue_url(server: LocalServer) -> str | None:
    """The e-mail queue's URL on this endpoint (what GetQueueUrl over HTTP answers).

    In-process, moto names queues by their AWS host; a client given that URL may send the
    request there (the AWS CLI v1 does when it has no --endpoint-url) and never reach us.
    """
    sandbox = server.sandbox
    if sandbox is None or not sandbox.email_queue_url:
        return None
    name = sandbox.email_queue_url.rsplit("/", 1)[-1]
    return f"{server.endpoint}/{server.cloud.account_id}/{name}"


def _print_banner(server: LocalServer, console: Console) -> None:
    """Everything a person needs to point a client at the server, ready to copy.

    Plain aligned lines rather than tables: a table fits the console's width by cutting
    long values (queue URLs) short, and a value cut short cannot be pasted.
    """
    cloud = server.cloud
    sandbox = server.sandbox

    def literal(text: str) -> None:
        # No markup (``[::1]`` is not a style), no highlighting, no folding.
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def pairs(rows: dict[str, str]) -> None:
        width = max(len(name) for name in rows)
        for name, value in rows.items():
            literal(f"  {name.ljust(width)}  {value}")

    console.rule("[bold]fleetpatch local cloud[/]")
    pairs(
        {
            "endpoint": server.endpoint,
            "region": f"{server.region} (the stack exists only there)",
            "account": cloud.account_id,
            "stack": server.stack.name,
            "clock": f"simulated, now {cloud.clock.now().isoformat(timespec='seconds')}, "
            f"{cloud.clock.factor:g} real s per simulated s",
            **(
                {"slack": f"{server.slack.url} (a local webhook: what is posted prints below)"}
                if server.slack is not None
                else {}
            ),
            **(
                {"e-mail": f"{_email_queue_url(server)} (SQS, subscribed to the reports topic)"}
                if _email_queue_url(server)
                else {}
            ),
            "alarms": "evaluated each minute; notifications go to the reports topic",
        }
    )
    if sandbox is not None:
        console.print()
        console.print("Images (RunInstances with one of these: the instance runs an SSM agent):")
        pairs(dict(sandbox.images))
    console.print()
    console.print("Credentials (fake: the local cloud accepts any, AWS accepts none of these):")
    exports = " ".join(f"{key}={value}" for key, value in _FAKE_CREDENTIALS.items())
    literal(f"  export {exports} AWS_DEFAULT_REGION={server.region}")
    console.print()
    console.print(
        "Try (or export AWS_ENDPOINT_URL to drop --endpoint-url; AWS CLI v1 ignores it for sqs):"
    )
    for command in _examples(server):
        literal(f"  {command}")
    if server.stack.outputs:
        console.print()
        console.print("Stack outputs:")
        pairs({name: str(value) for name, value in server.stack.outputs.items()})
    console.print()
    console.print("Serving until Ctrl-C. The timeline (sim time, what happened) follows.")


def _print_timeline(server: LocalServer, console: Console) -> None:
    """Write the Lambda logs gathered so far and print the new timeline entries."""
    if server.sandbox is None:
        return
    try:
        entries = server.sandbox.pump()
    except Exception as exc:  # shown, and the server goes on serving
        console.print(f"sandbox: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        return
    for entry in entries:
        console.print(
            f"{entry.at:%H:%M:%S} {entry.category:<9} {entry.text}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _print_slack(server: LocalServer, console: Console, shown: int) -> int:
    """Print what the notifier posted to the local Slack webhook since ``shown``."""
    posted = server.slack.messages if server.slack is not None else []
    for request in posted[shown:]:
        text = request.body.get("text") if isinstance(request.body, dict) else None
        console.print(f"slack: {text or request.raw[:200]!r}", markup=False, highlight=False)
    return len(posted)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_forever(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    time_factor: float = 1.0,
    template: Path | None = None,
    start: datetime | None = None,
    scenario: Scenario | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    console: Console | None = None,
) -> None:
    """``fleetpatch local up``: serve, print how to reach it, and stop cleanly on Ctrl-C.

    ``sleep`` paces the wait loop (``time.sleep``; tests pass one that interrupts).
    SIGTERM (``kill``) stops as cleanly as Ctrl-C when called from the main thread.
    """
    out = console or Console(highlight=False)
    if console is None and not out.is_terminal:
        # Piped: rich would assume 80 columns and fold the outputs' ARNs.
        out.width = 160
    restore: Any = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with Console(stderr=True).status("starting the local cloud and deploying the stack"):
            server = serve(
                host,
                port,
                time_factor=time_factor,
                template=template,
                start=start,
                scenario=scenario,
            )
        with server:
            _print_banner(server, out)
            shown = 0
            while server.serving:
                _print_timeline(server, out)
                sleep(1)
                shown = _print_slack(server, out, shown)
            raise RuntimeError("the local cloud's HTTP server stopped unexpectedly")
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
