"""The local cloud: moto in-process plus fleetpatch's extensions, on a simulated clock.

    with LocalCloud() as cloud:              # time factor 0: discrete simulated time
        stack = cloud.deploy()               # the real template.yaml
        cloud.put_event(load_event(...))     # EventBridge -> Lambda / Step Functions
        cloud.settle()                       # play until nothing is left to happen

Every boto3 client in the process talks to moto while the cloud is running (moto's
``mock_aws``); nothing leaves the machine. Only one LocalCloud runs per process at a time,
as moto's backends are process-wide.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any

import boto3
import botocore.endpoint
from moto import mock_aws

from fleetpatch import aws as fleetpatch_aws
from fleetpatch import clock as fleetpatch_clock
from localcloud.adapters import (
    alarm_evaluation,
    autoscaling,
    awslambda,
    cloudwatch,
    dynamodb_atomic,
    dynamodb_values,
    ec2,
    elbv2,
    events,
    iam_simulate,
    inspector2,
    lookups,
    memo,
    quotas,
    request_cost,
    s3_atomic,
    s3_objects,
    s3_policies,
    scheduler,
    securityhub,
    serializer,
    sim_dates,
    sns,
    ssm,
    ssm_calendar,
    ssm_windows,
    stepfunctions,
    xml_bodies,
)
from localcloud.core import clock as sim
from localcloud.core import faults as fault_injection
from localcloud.core import ratelimits, registry
from localcloud.core.iam import enforcer as iam_enforcer
from localcloud.deployer.deploy import deploy_template
from localcloud.deployer.stack import Stack
from localcloud.sim.autoscaling import AutoScalingSimulator
from localcloud.sim.ebs import EbsSimulator
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.inspector import InspectorSimulator
from localcloud.sim.load_balancing import LoadBalancingSimulator
from localcloud.sim.maintenance_windows import WindowRunner
from localcloud.sim.scheduler import SchedulerSimulator

# What botocore.endpoint sees as its ``time`` module while a LocalCloud runs: only ``sleep``
# is used there (the retry backoff), and it returns at once.
_NO_BACKOFF = SimpleNamespace(sleep=lambda seconds: None)


LOG = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "eu-central-1"
REPO_ROOT = Path(__file__).resolve().parents[1]

# Credentials for the in-process moto: fixed, fake, and never valid anywhere.
_LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "MOTO_ALLOW_NONEXISTENT_REGION": "false",
    # The handlers run in-process: tracing has nothing to send to, and importing
    # aws_xray_sdk would only slow every cold start.
    "POWERTOOLS_TRACE_DISABLED": "true",
    # The fleet registers the images it launches; moto's 2,500 stock AMIs only slow EC2.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
# ... and for an organization's own calls (localcloud.org) between its clouds' runs.
LOCAL_ENVIRONMENT = _LOCAL_ENVIRONMENT


class LocalCloud:
    """One simulated AWS account and region, its fleet and its clock."""

    def __init__(
        self,
        *,
        time_factor: float = 0.0,
        region: str = DEFAULT_REGION,
        account_id: str = ACCOUNT_ID,
        start: datetime = sim.DEFAULT_START,
        repo_root: Path = REPO_ROOT,
        iam: bool | None = None,
        organization_id: str | None = None,
    ) -> None:
        if not (len(account_id) == 12 and account_id.isdigit()):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        self.region = region
        self.account_id = account_id
        self.repo_root = repo_root
        self.clock = sim.SimClock(time_factor, start)
        self.lambdas = awslambda.LambdaRuntime(region, account_id)
        self.delivery = events.EventDelivery(self.lambdas)
        self.notifications = sns.NotificationDelivery(self.lambdas)
        # What goes wrong on purpose (lost and duplicate events, crashes, API errors).
        self.faults = fault_injection.FaultInjector()
        # IAM: every call a function, state machine or schedule makes is authorized as AWS
        # would (localcloud.core.iam); on unless turned off for one debugging run.
        self.iam = iam_enforcer.IamEnforcer(
            region,
            account_id,
            enabled=iam_enforcer.enabled_by_default() if iam is None else iam,
            org_id=organization_id,
        )
        self.delivery.faults = self.lambdas.faults = self.faults
        # CloudWatch: AWS's metrics, alarms evaluated and their actions run; off unless
        # cloud.alarms.enabled = True (local up, and the tests about alarms): on, a failure
        # in any test would add the alarm's notification to what the test observes.
        self.alarms = alarm_evaluation.AlarmEvaluator(region, account_id)
        # AWS's API rate limits, on by default (cloud.rate_limits.enabled = False: off).
        self.rate_limits = ratelimits.RateLimiter(account_id, region)
        self.stack: Stack | None = None
        # The simulators (SSM agent and fleet, Auto Scaling, maintenance windows) exist
        # while the cloud runs.
        self.fleet: FleetSimulator | None = None
        self.ebs: EbsSimulator | None = None  # snapshots, root volume replacement
        self.autoscaling: AutoScalingSimulator | None = None
        self.load_balancing: LoadBalancingSimulator | None = None  # ELBv2 target health
        self.windows: WindowRunner | None = None
        self.scheduler: SchedulerSimulator | None = None
        self.inspector: InspectorSimulator | None = None  # Inspector findings (issue 21)
        self._clients: dict[str, Any] = {}
        self._session: boto3.Session | None = None
        self._mock: Any = None
        self._saved_environment: dict[str, str | None] = {}
        self._suspended: dict[str, Any] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, *, shared_moto: bool = False) -> LocalCloud:
        """Run this cloud; ``shared_moto``: on the moto state its organization started.

        An organization's clouds (:mod:`localcloud.org`) share one moto state, each account
        and region in its own moto backends, and run one at a time (:meth:`suspend`,
        :meth:`resume`): nothing is reset when one starts.
        """
        # One cloud per process (moto's backends are process-wide): its parts go in the
        # registry, where the patched moto methods find them.
        registry.start(self)
        self._enter_process()
        if not shared_moto:
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
        self._install()
        return self

    def _enter_process(self) -> None:
        """The process-wide settings this cloud runs with (undone by :meth:`_leave_process`)."""
        # moto answers every request as the account in MOTO_ACCOUNT_ID (multi-account tests
        # deploy the same template into several accounts, one cloud after another).
        overlay = {
            **_LOCAL_ENVIRONMENT,
            "AWS_DEFAULT_REGION": self.region,
            "MOTO_ACCOUNT_ID": self.account_id,
        }
        self._saved_environment = {key: os.environ.get(key) for key in overlay}
        os.environ.update(overlay)
        # Never let a stray endpoint setting send a client anywhere but moto.
        # ... and no proxy between a handler and the local Slack receiver on 127.0.0.1
        # (slack-sdk takes a proxy from the environment for every URL).
        for key in (
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
        ):
            self._saved_environment.setdefault(key, os.environ.pop(key, None))
        # botocore backs off between retries with a real time.sleep (up to seconds per
        # throttled call); on the local cloud a wait is the simulated clock's business, so
        # the retry goes again at once. Restored on stop.
        botocore.endpoint.time = _NO_BACKOFF  # type: ignore[attr-defined]
        sim.install(self.clock)
        # The handlers' 'now' (fleetpatch.clock) is the simulated time too, and a handler that
        # waits in-process (the readiness watcher) sleeps on the simulated clock.
        fleetpatch_clock.use(self.clock.time, self.lambdas.sleep)
        iam_enforcer.install(self.iam)
        # A new account for the handlers: no client or cached policy from an earlier one.
        fleetpatch_aws.reset_clients()

    def _leave_process(self) -> None:
        botocore.endpoint.time = time  # type: ignore[attr-defined]
        iam_enforcer.uninstall(self.iam)
        fleetpatch_clock.use(None)
        fleetpatch_aws.reset_clients()
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment = {}

    def suspend(self) -> None:
        """Step aside for another cloud of the organization; state and simulated time stay."""
        self._leave_process()
        self._suspended = registry.suspend(self)

    def resume(self) -> None:
        """Run again where :meth:`suspend` left off (its simulated clock had stopped)."""
        if self._suspended is None:
            raise RuntimeError("this cloud is not suspended")
        registry.resume(self, self._suspended)
        self._suspended = None
        self._enter_process()

    def _install(self) -> None:
        # moto's by-id lookups and per-request costs, without changing its answers.
        lookups.install()
        memo.install()
        request_cost.install()
        serializer.install()  # moto's response members read from plain dicts directly
        xml_bodies.install()  # moto's XML bodies written without a SAX call per element
        dynamodb_values.install()  # attribute values rendered and sized without copies
        iam_simulate.install()
        cloudwatch.install()
        alarm_evaluation.install(self.alarms, self.lambdas)
        sim_dates.install()
        s3_atomic.install()  # each PutObject and GetObject one step
        s3_policies.install()  # bucket policies decided by the IAM enforcer, not moto
        dynamodb_atomic.install()  # each DynamoDB request one step
        stepfunctions.install()
        awslambda.install(self.lambdas)
        events.install(self.delivery)
        sns.install(self.notifications)
        fault_injection.install(self.faults)
        ratelimits.install(self.rate_limits)
        # The simulators, each behind its moto adapter (which creates it for this cloud).
        self.fleet = ssm.install(self)
        ssm_calendar.install()  # Change Calendar documents, GetCalendarState
        self.ebs = ec2.install(self)  # EC2 reboots and status checks, EBS: on the fleet
        self.autoscaling = autoscaling.install(self)
        self.load_balancing = elbv2.install(self)
        self.windows = ssm_windows.install(self)
        self.scheduler = scheduler.install(self)
        securityhub.install()  # BatchImportFindings as strict as AWS (issue 21)
        self.inspector = inspector2.install(self)
        quotas.install()  # AWS's quotas, last: it wraps methods the other adapters replace
        # moto's ASL interpreter logs every caught failure at ERROR; the execution history
        # already records them.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    def stop(self) -> None:
        if self._suspended is not None:  # its organization stops every cloud, running or not
            self.resume()
        self.lambdas.close()
        self.clock.stop()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        sim.uninstall()
        fault_injection.uninstall()
        self._leave_process()
        self._clients.clear()
        self._session = None
        self.fleet = self.autoscaling = self.windows = self.scheduler = None
        self.inspector = None
        self.load_balancing = None
        self.ebs = None
        registry.stop(self)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- using it -----------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client for this cloud's region (all clients talk to moto while running).

        Cached per service: building a client reads botocore's service model, which costs
        more than most simulated API calls.
        """
        cached = self._clients.get(service)
        if cached is None:
            if self._session is None:
                self._session = boto3.Session(region_name=self.region)
            cached = self._session.client(service)  # type: ignore[call-overload]
            self._clients[service] = cached
        return cached

    def put_event(self, event: dict[str, Any]) -> str:
        """Put a full EventBridge event (a fixture) on the default bus, as AWS would emit it."""
        entry: dict[str, Any] = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
            # Whole epoch seconds: what botocore puts in a PutEvents request.
            "Time": calendar.timegm(self.clock.now().utctimetuple()),
        }
        return events.put_aws_event(self.account_id, self.region, entry)

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        """Write an object as an AWS service does (the SSM agent's command output).

        Straight to moto's S3 backend (``localcloud.adapters.s3_objects``), unless a test
        scripted S3 PutObject faults: those are answered on the request path, so the write
        goes through a client and meets them.
        """
        if self.faults.fails_api("s3", "PutObject"):
            self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        else:
            s3_objects.put_object(self.account_id, self.region, bucket, key, body)

    def emit(
        self,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str] | None = None,
    ) -> str:
        """Emit an AWS service event (what the simulators call when state changes)."""
        return self.put_event(
            {
                "source": source,
                "detail-type": detail_type,
                "detail": detail,
                "resources": resources or [],
            }
        )

    def settle(self, *, max_seconds: float | None = None) -> None:
        """Play simulated time until nothing is left to happen (or ``max_seconds`` pass)."""
        self.clock.run(for_seconds=max_seconds, stop_when_quiet=True)

    def advance(self, seconds: float) -> None:
        """Play exactly ``seconds`` of simulated time."""
        self.clock.run(for_seconds=seconds)

    def deploy(
        self, template: Path | None = None, parameters: dict[str, str] | None = None
    ) -> Stack:
        """Deploy the real SAM template into this cloud (see :mod:`localcloud.deployer`)."""
        self.stack = deploy_template(
            self, template or self.repo_root / "template.yaml", parameters or {}
        )
        return self.stack


def active() -> LocalCloud:
    """The LocalCloud running in this process."""
    cloud = registry.running()
    assert isinstance(cloud, LocalCloud)
    return cloud


@contextmanager
def running(**kwargs: Any) -> Iterator[LocalCloud]:
    with LocalCloud(**kwargs) as cloud:
        yield cloud
