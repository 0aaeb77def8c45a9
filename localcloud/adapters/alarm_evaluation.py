"""CloudWatch alarms on the local cloud: AWS's metrics, evaluated on simulated time, with actions.

moto 5.2.5 stores metric alarms but never evaluates one, emits none of the metrics the
control plane's alarms watch (``AWS/SQS ApproximateNumberOfMessagesVisible``, ``AWS/Lambda
Errors``, ``AWS/States ExecutionsFailed|TimedOut|Aborted``), and never runs an alarm's
actions, not even on SetAlarmState. With :attr:`AlarmEvaluator.enabled` (``local up``, and
the tests about alarms) the local cloud does, as CloudWatch does:

* **Metrics.** A function invocation that fails puts ``AWS/Lambda Errors`` (FunctionName);
  an execution that ends puts ``AWS/States Executions{Succeeded,Failed,TimedOut,Aborted}``
  (StateMachineArn); a queue an alarm watches has its ``ApproximateNumberOfMessagesVisible``
  sampled at each evaluation. Lambda throttling is not simulated, so ``Throttles`` never
  has data. Datapoints go into moto's metric store, where GetMetricStatistics and
  GetMetricData find them.
* **Evaluation.** Once a minute while something may change: after a datapoint arrives or a
  message is sent to a queue (the minute after), and every minute while an alarm is not OK
  (a background timer: it does not keep a settling cloud busy). Each metric alarm on a
  metric the local cloud produces, or has received data for, is evaluated over its last
  ``EvaluationPeriods`` periods, with ``DatapointsToAlarm``, the four threshold comparisons,
  the five plain statistics and ``TreatMissingData``. Alarms on metric math, percentiles or
  anomaly bands, and alarms on metrics nothing produces, are left where SetAlarmState puts
  them (tests drive those by hand, as the gate tests do).
* **Actions.** A change of state (evaluated, or set with SetAlarmState) runs the actions of
  the new state when ``ActionsEnabled``: an SNS topic receives CloudWatch's message (its
  JSON, the ``ALARM: "name" in <Region>`` subject), published as the service principal
  ``cloudwatch.amazonaws.com`` for the alarm's ARN, so the topic's policy and, for an
  encrypted topic, the key's policy must allow it (AWS drops the notification otherwise;
  so does the local cloud). Each attempt is an ``Action`` item of the alarm's history
  ("Successfully executed action ..." or "Failed to execute action ...").

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_alarms.py):
``CloudWatchBackend.put_metric_data`` (wrapped) and ``get_metric_statistics``;
``moto.cloudwatch.models.cloudwatch_backends``; ``Alarm`` attributes (``namespace``,
``metric_name``, ``dimensions``, ``statistic``, ``period``, ``threshold``, ...);
``SQSBackend.send_message``/``send_message_batch`` (wrapped), ``get_queue`` and
``Queue.approximate_number_of_messages``; ``BaseExecutionWorkerCommunication.terminated``
(wrapped) and its ``execution`` (``exec_status``, ``state_machine_arn``).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from localcloud.adapters import cloudwatch
from localcloud.core import clock as sim
from localcloud.core import motopatch
from localcloud.core.iam import enforcer
from localcloud.core.iam.principal import acting_as
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    from localcloud.adapters.awslambda import Invocation, LambdaRuntime

LOG = logging.getLogger(__name__)

SERVICE_PRINCIPAL = "cloudwatch.amazonaws.com"
EVALUATION_SECONDS = 60
# The metrics the local cloud itself produces (above); alarms on others are evaluated only
# once something puts data for their metric.
PRODUCED = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Throttles"),
    ("AWS/States", "ExecutionsSucceeded"),
    ("AWS/States", "ExecutionsFailed"),
    ("AWS/States", "ExecutionsTimedOut"),
    ("AWS/States", "ExecutionsAborted"),
}
_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
_EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
# The region names CloudWatch puts in a notification's subject and Region field.
_REGION_NAMES = {
    "eu-central-1": "EU (Frankfurt)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-north-1": "EU (Stockholm)",
    "eu-central-2": "EU (Zurich)",
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
}
_SUBJECT_LIMIT = 100  # SNS's limit on Subject


class AlarmEvaluator:
    """The running cloud's CloudWatch: metrics out of the simulators, alarms evaluated."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.enabled = False
        self._lock = threading.Lock()
        self._pending: sim.TimerHandle | None = None
        self._background: sim.TimerHandle | None = None
        self._with_data: set[tuple[str, str]] = set()

    # --- metrics ----------------------------------------------------------------------------

    def backend(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account_id][self.region]

    def emit(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        value: float,
        at: datetime | None = None,
    ) -> None:
        """Put one datapoint (now), as the AWS service itself (no caller to authorize)."""
        if not self.enabled:
            return
        self.backend().put_metric_data(
            namespace,
            [
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Value": value,
                    "Unit": "Count",
                    "Timestamp": _naive(at or sim.current().now()),
                }
            ],
        )

    def on_invocation(self, invocation: Invocation) -> None:
        if invocation.error_type is not None and invocation.error_type != (
            "ResourceNotFoundException"
        ):
            self.emit("AWS/Lambda", "Errors", {"FunctionName": invocation.function_name}, 1)

    def data_arrived(self, namespace: str, names: list[str]) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._with_data.update((namespace, name) for name in names)
        self.soon()

    # --- when to evaluate -------------------------------------------------------------------

    def soon(self) -> None:
        """Evaluate at the next minute (once, however many changes come before it)."""
        if not self.enabled:
            return
        with self._lock:
            if self._pending is not None:
                return
            self._pending = sim.current().call_at(
                self._next_minute(), self._tick, label="cloudwatch:evaluate"
            )

    def _next_minute(self) -> datetime:
        now = sim.current().now()
        return now.replace(second=0, microsecond=0) + timedelta(seconds=EVALUATION_SECONDS)

    def _tick(self) -> None:
        with self._lock:
            self._pending = None
            self._background = None
        if not self.enabled:
            return
        unsettled = self.evaluate()
        if unsettled:
            with self._lock:
                if self._pending is None and self._background is None:
                    # Not OK yet: look again each minute, without keeping the cloud busy.
                    self._background = sim.current().call_at(
                        self._next_minute(),
                        self._tick,
                        label="cloudwatch:re-evaluate",
                        background=True,
                    )

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(self) -> bool:
        """Evaluate every alarm the local cloud can; True when one of them is not OK."""
        backend = self.backend()
        now = sim.current().now()
        self._sample_queues(backend, now)
        unsettled = False
        for alarm in list(backend.alarms.values()):
            if not self._evaluable(alarm):
                continue
            state, reason, data = _decide(backend, alarm, now)
            if state is not None and state != alarm.state_value:
                backend.set_alarm_state(alarm.name, reason, json.dumps(data), state)
            unsettled = unsettled or alarm.state_value != "OK"
        return unsettled

    def _evaluable(self, alarm: Any) -> bool:
        if alarm.rule is not None or alarm.metric_data_queries or alarm.extended_statistic:
            return False
        if alarm.statistic not in _STATISTICS or alarm.comparison_operator not in _COMPARE:
            return False
        key = (alarm.namespace, alarm.metric_name)
        return key in PRODUCED or key in self._with_data

    def _sample_queues(self, backend: Any, now: datetime) -> None:
        from moto.sqs.models import sqs_backends

        queues = sqs_backends[self.account_id][self.region]
        # The depth now, as the last datapoint of the minute that ends now (a period's
        # datapoints are in [start, end): the evaluation now reads [now - period, now)).
        at = now - timedelta(seconds=1)
        for alarm in backend.alarms.values():
            if (alarm.namespace, alarm.metric_name) != (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
            ):
                continue
            for dimension in alarm.dimensions:
                if dimension.name != "QueueName" or dimension.value not in queues.queues:
                    continue
                depth = queues.get_queue(dimension.value).approximate_number_of_messages
                self.emit(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": dimension.value},
                    depth,
                    at,
                )

    # --- actions ----------------------------------------------------------------------------

    def state_changed(self, backend: Any, alarm: Any, old_state: str) -> None:
        """Run the new state's actions, after the call that changed it (as CloudWatch does)."""
        if not self.enabled or not alarm.actions_enabled:
            return
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }.get(alarm.state_value) or []
        if not actions:
            return
        message = _notification(alarm, old_state, self.account_id, self.region)
        for arn in actions:
            sim.current().call_later(
                0,
                functools.partial(self._act, backend, alarm, arn, message),
                label=f"cloudwatch:action:{alarm.name}",
            )

    def _act(self, backend: Any, alarm: Any, arn: str, message: dict[str, Any]) -> None:
        if arn.split(":")[2:3] != ["sns"]:
            cloudwatch.record_action(
                backend, alarm, f"Failed to execute action {arn}", "not simulated locally"
            )
            return
        iam = enforcer.active()
        principal = iam.service(SERVICE_PRINCIPAL, alarm.alarm_arn) if iam else None
        subject = f'{alarm.state_value}: "{alarm.name}" in {message["Region"]}'
        if len(subject) > _SUBJECT_LIMIT:
            subject = subject[: _SUBJECT_LIMIT - 3] + "..."
        try:
            with acting_as(principal):
                boto3.client("sns", region_name=arn.split(":")[3]).publish(
                    TopicArn=arn, Subject=subject, Message=json.dumps(message)
                )
        except ClientError as exc:
            LOG.warning("alarm %s could not notify %s: %s", alarm.name, arn, exc)
            cloudwatch.record_action(backend, alarm, f"Failed to execute action {arn}", str(exc))
            return
        cloudwatch.record_action(backend, alarm, f"Successfully executed action {arn}", "")


def _decide(backend: Any, alarm: Any, now: datetime) -> tuple[str | None, str, dict[str, Any]]:
    """The state the alarm's last periods call for, with CloudWatch's kind of reason."""
    period = int(alarm.period)
    periods = int(alarm.evaluation_periods)
    needed = int(alarm.datapoints_to_alarm or periods)
    end = _naive(now).replace(microsecond=0)
    start = end - timedelta(seconds=period * periods)
    dimensions = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    values: list[float | None] = []
    for index in range(periods):
        since = start + timedelta(seconds=period * index)
        stats = backend.get_metric_statistics(
            alarm.namespace,
            alarm.metric_name,
            since,
            since + timedelta(seconds=period),
            period,
            [alarm.statistic],
            dimensions,
        )
        found = [s.get_statistics_for_type(alarm.statistic) for s in stats]
        values.append(float(found[-1]) if found and found[-1] is not None else None)
    compare, words = _COMPARE[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    present = [v for v in values if v is not None]
    missing = len(values) - len(present)
    treat = alarm.treat_missing_data or "missing"
    breaching = sum(1 for v in present if compare(v, threshold))
    if treat == "breaching":
        breaching += missing
    data = {
        "version": "1.0",
        "queryDate": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "startDate": start.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "statistic": alarm.statistic,
        "period": period,
        "recentDatapoints": present,
        "threshold": threshold,
    }
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None, "", data
        return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints were received.", data
    stamp = now.strftime("%d/%m/%y %H:%M:%S")
    shown = ", ".join(f"{v} ({stamp})" for v in present)
    if breaching >= needed:
        return (
            "ALARM",
            f"Threshold Crossed: {breaching} out of the last {periods} datapoints [{shown}] "
            f"was {words} the threshold ({threshold}) (minimum {needed} datapoint for "
            f"OK -> ALARM transition).",
            data,
        )
    if not present:
        return (
            "OK",
            f"Threshold Crossed: no datapoints were received for {periods} period and "
            f"{missing} missing datapoint was treated as [NonBreaching].",
            data,
        )
    return (
        "OK",
        f"Threshold Crossed: {len(present)} datapoint [{shown}] was not {words} the "
        f"threshold ({threshold}).",
        data,
    )


def _naive(when: datetime) -> datetime:
    """moto's metric store keeps naive UTC times (what its API parses into)."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _notification(alarm: Any, old_state: str, account: str, region: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS action."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _stamp(alarm.state_updated_timestamp),
        "Region": _REGION_NAMES.get(region, region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "Statistic",
            "Statistic": str(alarm.statistic or "").upper(),
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": int(alarm.period or 0),
            "EvaluationPeriods": int(alarm.evaluation_periods or 0),
            "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 0),
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": float(alarm.threshold or 0),
            "TreatMissingData": alarm.treat_missing_data or "missing",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        },
    }


# The running cloud's CloudWatch (localcloud.core.registry).
EVALUATOR: Slot[AlarmEvaluator] = Slot("alarm-evaluator")


_TAG = "_fleetpatch_alarm_evaluation"


def install(evaluator: AlarmEvaluator, runtime: LambdaRuntime) -> None:
    """Route metrics and alarm state changes of the running cloud to ``evaluator``."""
    EVALUATOR.set(evaluator)
    cloudwatch.STATE_CHANGES.set(evaluator.state_changed)
    runtime.on_invocation(evaluator.on_invocation)
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    # A tag of its own: other adapters wrap the same methods (lookups wraps send_message), and
    # a method another adapter patched must still get this wrapper around it.
    for owner, name, make in (
        (CloudWatchBackend, "put_metric_data", _put_metric_data),
        (SQSBackend, "send_message", _queue_changed),
        (SQSBackend, "send_message_batch", _queue_changed),
        (BaseExecutionWorkerCommunication, "terminated", _terminated),
    ):
        motopatch.patch(owner, name, make, tag=_TAG, wraps=True)


def _put_metric_data(original: Any) -> Any:
    def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        original(self, namespace, metric_data)
        evaluator = EVALUATOR.get()
        if evaluator is not None:
            evaluator.data_arrived(namespace, [m["MetricName"] for m in metric_data])

    return put_metric_data


def _queue_changed(original: Any) -> Any:
    def sent(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original(self, queue_name, *args, **kwargs)
        evaluator = EVALUATOR.get()
        if evaluator is not None:
            evaluator.soon()
        return result

    return sent


def _terminated(original: Any) -> Any:
    def terminated(self: Any) -> None:
        original(self)
        evaluator = EVALUATOR.get()
        status = getattr(self.execution.exec_status, "value", self.execution.exec_status)
        metric = _EXECUTION_METRICS.get(str(status))
        if evaluator is not None and metric is not None:
            arn = self.execution.state_machine_arn
            evaluator.emit("AWS/States", metric, {"StateMachineArn": arn}, 1)

    return terminated
