"""``fleetpatch local up`` as a sandbox for the AWS CLI: a fleet, its images, logs, an inbox.

    sandbox = Sandbox.prepare(cloud, stack, scenario)   # after the deploy
    sandbox.images                                       # {"AMAZON_LINUX_2023": "ami-...", ...}
    for entry in sandbox.pump():                         # every second while serving
        print(entry.text)                                # the timeline, as it happens

What a person exploring with ``aws --endpoint-url`` needs beyond the deployed stack:

* the scenario's fleet and Auto Scaling groups, built by the runner that ``local run``
  uses (:func:`localcloud.runner.build_fleet`; the scenario's steps are not played: the
  person drives the cloud);
* the simulator's images, one per operating system, registered in EC2 at the start so
  RunInstances over HTTP can name them (an instance of one gets an SSM agent);
* an SQS queue subscribed to the reports topic, standing in for the policy's e-mail
  subscribers (the local stack deploys no e-mail subscription: nothing could confirm it);
* each Lambda invocation's output in CloudWatch Logs, in the function's log group, as
  Lambda writes it (``START``, the handler's lines, ``END``, ``REPORT``);
* the timeline of ``local run`` (events delivered, Lambda invocations, launches, and each
  workflow run as it starts and ends), streamed;
* maintenance windows that open on their schedule (``DescribeMaintenanceWindowSchedule``'s
  next execution, on the simulated clock), run by the window runner as ``local run``'s
  ``run_window`` step runs them; a window created over the API is picked up at the next
  :meth:`Sandbox.pump`. (Only here: in tests and ``local run`` a window opens when asked.)

Lambda logs are written from :meth:`Sandbox.pump`, outside any request: an invocation
runs inside the API call or timer that caused it, and writing there would add a
CloudWatch Logs call to what that call does.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.adapters.awslambda import Invocation
from localcloud.core import ratelimits
from localcloud.recorder import RUN_KINDS, Entry, Recorder
from localcloud.runner import build_fleet
from localcloud.sim.patch_catalogue import OPERATING_SYSTEMS

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.deployer.stack import Stack
    from localcloud.scenario import Scenario

EMAIL_QUEUE = "fleetpatch-local-email"
# PutLogEvents takes at most 10,000 events per call (CloudWatch Logs quotas).
_MAX_EVENTS = 10_000


@dataclass
class Sandbox:
    cloud: LocalCloud
    recorder: Recorder
    images: dict[str, str]
    email_queue_url: str | None = None
    _pending: list[Invocation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _streamed: int = 0
    _streams: dict[str, str] = field(default_factory=dict)
    _groups: dict[str, str] = field(default_factory=dict)
    _windows: set[str] = field(default_factory=set)
    _machines: dict[str, str] = field(default_factory=dict)  # state machine ARN -> run kind
    _runs: dict[str, str] = field(default_factory=dict)  # execution ARN -> status seen

    @classmethod
    def prepare(cls, cloud: LocalCloud, stack: Stack, scenario: Scenario | None) -> Sandbox:
        """Register the images, connect the inbox and the logs, build the scenario's fleet."""
        recorder = Recorder(cloud)
        recorder.attach()
        fleet = cloud.fleet
        if fleet is None:
            raise RuntimeError("the local cloud is not running")
        images: dict[str, str] = {name: fleet.image_id(name) for name in OPERATING_SYSTEMS}
        sandbox = cls(cloud, recorder, images, _email_queue(cloud, stack))
        sandbox._machines = {
            stack.state_machine_arn(logical_id): kind
            for logical_id, kind in RUN_KINDS.items()
            if logical_id in stack.resources
        }
        cloud.lambdas.on_invocation(sandbox._on_invocation)
        sandbox._schedule_windows()
        if scenario is not None:
            recorder.note("step", f"scenario {scenario.name}: building its fleet")
            build_fleet(cloud, scenario, recorder)
            if scenario.steps:
                recorder.note(
                    "step",
                    f"its {len(scenario.steps)} steps are not played: drive the cloud with the "
                    "AWS CLI (fleetpatch local run plays them)",
                )
        return sandbox

    def pump(self) -> list[Entry]:
        """Write the Lambda logs gathered since the last call; the new timeline entries."""
        with self._lock:
            pending, self._pending = self._pending, []
        # AWS's own doing (Lambda writing logs, the window scheduler, the console's view of
        # runs): never charged to the account's API rate limits.
        with ratelimits.on_behalf_of_aws():
            for invocation in pending:
                self._write_logs(invocation)
            self._schedule_windows()
            self._note_runs()
        entries = self.recorder.entries
        fresh = sorted(entries[self._streamed :], key=lambda e: e.at)
        self._streamed += len(fresh)
        return fresh

    def _note_runs(self) -> None:
        """A timeline line for each workflow run that started or ended since the last call."""
        sfn = self.cloud.client("stepfunctions")
        for machine, kind in self._machines.items():
            for run in sfn.list_executions(stateMachineArn=machine, maxResults=100)["executions"]:
                seen = self._runs.get(run["executionArn"])
                if seen == run["status"]:
                    continue
                started = run["startDate"].astimezone(UTC)
                if seen is None:
                    self.recorder.entries.append(
                        Entry(started, "run", f"{kind} run {run['name']} started")
                    )
                if run["status"] != "RUNNING":
                    stopped = run["stopDate"].astimezone(UTC) if "stopDate" in run else started
                    self.recorder.entries.append(
                        Entry(stopped, "run", f"{kind} run {run['name']}: {run['status']}")
                    )
                self._runs[run["executionArn"]] = run["status"]

    # --- maintenance windows on their schedule ------------------------------------------------

    def _window_ids(self) -> dict[str, dict[str, Any]]:
        pages = self.cloud.client("ssm").get_paginator("describe_maintenance_windows").paginate()
        return {w["WindowId"]: w for page in pages for w in page["WindowIdentities"]}

    def _schedule_windows(self) -> None:
        """Put each window not yet scheduled on the clock at its next execution."""
        for window_id, window in self._window_ids().items():
            with self._lock:
                new = window_id not in self._windows and window.get("Enabled", True)
                self._windows.add(window_id)
            if new:
                self._next_execution(window_id)

    def _next_execution(self, window_id: str) -> None:
        upcoming = self.cloud.client("ssm").describe_maintenance_window_schedule(
            WindowId=window_id, MaxResults=1
        )["ScheduledWindowExecutions"]
        if not upcoming:
            return
        at = datetime.strptime(upcoming[0]["ExecutionTime"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        # Background: a recurrence, which keeps no one waiting for the world to be quiet.
        self.cloud.clock.call_at(
            at,
            lambda: self._open(window_id, upcoming[0]["Name"]),
            f"sandbox:window:{window_id}",
            background=True,
        )

    def _open(self, window_id: str, name: str) -> None:
        with ratelimits.on_behalf_of_aws():
            self._open_now(window_id, name)

    def _open_now(self, window_id: str, name: str) -> None:
        runner = self.cloud.windows
        if runner is None or window_id not in self._window_ids():
            with self._lock:  # deleted meanwhile: scheduled again if it comes back
                self._windows.discard(window_id)
            return
        execution = runner.run_window(window_id)
        self.recorder.note("window", f"{name} opened on its schedule ({execution})")
        self._next_execution(window_id)

    # --- Lambda logs --------------------------------------------------------------------------

    def _on_invocation(self, invocation: Invocation) -> None:
        with self._lock:
            self._pending.append(invocation)

    def _log_group(self, function_name: str) -> str:
        """The function's log group (its LoggingConfig's, else Lambda's default), created."""
        group = self._groups.get(function_name)
        if group is None:
            try:
                config = self.cloud.client("lambda").get_function_configuration(
                    FunctionName=function_name
                )
                group = str((config.get("LoggingConfig") or {}).get("LogGroup") or "")
            except self.cloud.client("lambda").exceptions.ResourceNotFoundException:
                group = ""
            group = group or f"/aws/lambda/{function_name}"
            logs = self.cloud.client("logs")
            if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                logs.create_log_group(logGroupName=group)
            self._groups[function_name] = group
        return group

    def _write_logs(self, invocation: Invocation) -> None:
        started = datetime.fromisoformat(invocation.started)
        group = self._log_group(invocation.function_name)
        # Lambda's stream name: date/[version]environment id; one environment per function.
        stream = f"{started:%Y/%m/%d}/[$LATEST]{self._environment(invocation.function_name)}"
        logs = self.cloud.client("logs")
        if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)[
            "logStreams"
        ]:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        at = int(started.timestamp() * 1000)
        request = invocation.request_id
        lines = [f"START RequestId: {request} Version: $LATEST"]
        lines += [line for line in invocation.logs.splitlines() if line.strip()]
        lines += [
            f"END RequestId: {request}",
            f"REPORT RequestId: {request}\tDuration: {invocation.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, round(invocation.duration_ms))} ms\t"
            f"Memory Size: {invocation.memory_mb} MB",
        ]
        events: list[dict[str, Any]] = [{"timestamp": at, "message": line} for line in lines]
        for first in range(0, len(events), _MAX_EVENTS):
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=events[first : first + _MAX_EVENTS],
            )

    def _environment(self, function_name: str) -> str:
        return self._streams.setdefault(function_name, uuid.uuid4().hex)


def _email_queue(cloud: LocalCloud, stack: Stack) -> str | None:
    """An SQS queue subscribed to the reports topic: what e-mail subscribers would receive."""
    topic = stack.outputs.get("ReportsTopicArn")
    if not topic:
        return None
    sqs = cloud.client("sqs")
    url = str(sqs.create_queue(QueueName=EMAIL_QUEUE)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    cloud.client("sns").subscribe(TopicArn=str(topic), Protocol="sqs", Endpoint=arn)
    return url
