"""EventBridge on the local cloud: delivery to Lambda and Step Functions targets.

moto 5.2.5 matches patterns well but delivers only to SQS, Logs, archives, buses and API
destinations; a Lambda or Step Functions target makes ``PutEvents`` fail. We take over
``Rule.send_to_targets`` for those two target kinds and keep moto's delivery for the rest.

Like EventBridge, delivery is asynchronous: it is queued on the simulated clock and
happens after ``PutEvents`` returns. ``InputPath`` and ``InputTransformer`` are applied
(moto handles only the transformer), and ``time`` is rendered as EventBridge does
(``2026-11-07T06:00:00Z``), not as moto's epoch float. A target whose delivery fails
(function or state machine missing) goes to the target's ``DeadLetterConfig`` queue.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from localcloud.adapters import alarm_evaluation
from localcloud.adapters.awslambda import LambdaRuntime
from localcloud.core import clock as sim
from localcloud.core import motopatch, ratelimits
from localcloud.core.iam import enforcer
from localcloud.core.iam.principal import acting_as
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    from localcloud.core.faults import FaultInjector

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)


@dataclass
class Delivery:
    """One event delivered (or not) to one target, for the timeline and tests."""

    rule: str
    target_arn: str
    event: Any
    delivered: bool
    error: str | None = None


def _event_time(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _input_path(event: dict[str, Any], path: str) -> Any:
    # EventBridge InputPath is a JSONPath into the event; fleetpatch uses dotted paths.
    if path in {"$", ""}:
        return event
    if not path.startswith("$."):
        raise ValueError(f"unsupported InputPath {path!r}")
    value: Any = event
    for part in path[2:].split("."):
        value = value[part]
    return value


class EventDelivery:
    """Holds what the patched rule needs: the Lambda runtime and a delivery log."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self.deliveries: list[Delivery] = []
        self.listeners: list[Callable[[Delivery], None]] = []
        # Scripted delivery faults (drop, duplicate, reorder): see localcloud.core.faults.
        self.faults: FaultInjector | None = None
        # Per rule, the deliveries that failed (EventBridge's FailedInvocations metric).
        self.failed_invocations: Counter[str] = Counter()

    def record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        for listener in self.listeners:
            listener(delivery)


# The running cloud's event-delivery (localcloud.core.registry).
DELIVERY: Slot[EventDelivery] = Slot("event-delivery")
# Where an event for a bus of another account or region goes once EventBridge may put it
# there: ``(bus ARN, event)``. An organization (localcloud.org) queues it for the cloud of
# that account and region; with no such slot it arrives at once (:func:`arrive`).
BUS_FORWARDER: Slot[Callable[[str, dict[str, Any]], None]] = Slot("bus-forwarder")
_swap_lock = threading.Lock()


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _transform(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """EventBridge InputTransformer: InputPathsMap values substituted into InputTemplate.

    As EventBridge does: a placeholder outside a JSON string becomes the value's JSON
    (strings quoted); inside a string it becomes the text; a missing path becomes null /
    empty. A template that is not JSON is delivered as a string.
    """
    values: dict[str, Any] = {
        name: _input_path_or_none(event, path)
        for name, path in transformer.get("InputPathsMap", {}).items()
    }
    values["aws.events.event.json"] = event
    values["aws.events.event"] = event
    values["aws.events.rule-arn"] = event.get("_rule_arn")
    template: str = transformer.get("InputTemplate") or "<aws.events.event>"
    out: list[str] = []
    in_string = False
    escaped = False
    index = 0
    while index < len(template):
        char = template[index]
        match = _PLACEHOLDER.match(template, index) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps("" if value is None else text)[1:-1])
            else:
                out.append(json.dumps(value))
            index = match.end()
            continue
        out.append(char)
        if in_string and escaped:
            escaped = False
        elif in_string and char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        index += 1
    rendered = "".join(out)
    if rendered.lstrip()[:1] in {"{", "["}:
        return json.loads(rendered)
    return rendered


def _input_path_or_none(event: dict[str, Any], path: str) -> Any:
    try:
        return _input_path(event, path)
    except (KeyError, TypeError):
        return None


def _render(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "InputTransformer" in target:
        return _transform(target["InputTransformer"], event)
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _input_path(event, target["InputPath"])
    return event


def _dead_letter(target: dict[str, Any], event: Any, error: str) -> None:
    arn = target.get("DeadLetterConfig", {}).get("Arn")
    if not arn:
        LOG.warning(
            "event delivery to %s failed (%s) and the target has no DLQ", target["Arn"], error
        )
        return
    _, _, _, region, _account, queue_name = arn.split(":", 5)
    sqs = boto3.client("sqs", region_name=region)
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    # EventBridge writes to the dead-letter queue as itself, for the rule: the queue's
    # policy (and the key's, for an encrypted queue) must let it.
    iam = enforcer.active()
    principal = iam.service("events.amazonaws.com", target.get("_RuleArn", "")) if iam else None
    try:
        with acting_as(principal):
            _send_dead_letter(sqs, queue_url, target, event, error)
    except ClientError as exc:
        # EventBridge cannot write either: the event is dropped (AWS counts it in the
        # rule's InvocationsFailedToBeSentToDlq metric).
        LOG.warning(
            "event for %s dropped: its dead-letter queue refused it (%s)", target["Arn"], exc
        )


def _send_dead_letter(
    sqs: Any, queue_url: str, target: dict[str, Any], event: Any, error: str
) -> None:
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "ERROR_CODE": {"DataType": "String", "StringValue": "RESOURCE_NOT_FOUND"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:256]},
            "RULE_ARN": {"DataType": "String", "StringValue": target.get("_RuleArn", "")},
            "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
        },
    )


def _deliver(rule_name: str, target: dict[str, Any], payload: Any) -> None:
    delivery = DELIVERY.get()
    assert delivery is not None
    arn: str = target["Arn"]
    service = arn.split(":")[2]
    iam = enforcer.active()
    try:
        if service == "events":
            _forward(target, payload)
        elif service == "lambda":
            function_name = arn.split(":")[6]
            if function_name not in delivery.runtime.functions:
                raise LookupError(f"function {function_name} does not exist")
            # EventBridge invokes as itself: the function's resource policy must allow the rule.
            if iam is not None:
                principal = iam.service("events.amazonaws.com", target.get("_RuleArn", ""))
                iam.require(principal, "lambda", "Invoke", {"FunctionName": arn})
            delivery.runtime.invoke_async(function_name, payload)
        else:
            region = arn.split(":")[3]
            # A Step Functions target is started with the target's role.
            role = None
            if iam is not None:
                if not target.get("RoleArn"):
                    raise LookupError(f"target {arn} has no RoleArn to start executions with")
                role = iam.assume(
                    target["RoleArn"], "events.amazonaws.com", source_arn=target.get("_RuleArn")
                )
            # EventBridge's own call for the account (it retries throttled ones on AWS).
            with acting_as(role), ratelimits.on_behalf_of_aws():
                boto3.client("stepfunctions", region_name=region).start_execution(
                    stateMachineArn=arn, input=json.dumps(payload)
                )
    except Exception as exc:
        delivery.failed_invocations[rule_name] += 1
        _count_failure(rule_name)
        delivery.record(Delivery(rule_name, arn, payload, delivered=False, error=str(exc)))
        _dead_letter(target, payload, str(exc))
        return
    delivery.record(Delivery(rule_name, arn, payload, delivered=True))


def _count_failure(rule_name: str) -> None:
    """EventBridge's ``AWS/Events`` ``FailedInvocations`` datapoint for the rule."""
    evaluator = alarm_evaluation.EVALUATOR.get()
    if evaluator is not None:
        evaluator.emit("AWS/Events", "FailedInvocations", {"RuleName": rule_name}, 1)


def _forward(target: dict[str, Any], event: dict[str, Any]) -> None:
    """Put ``event`` on a bus of another account or region, as EventBridge does.

    EventBridge assumes the target's ``RoleArn`` (its trust policy must let
    events.amazonaws.com) and puts the event as that role: the role's policy must allow
    ``events:PutEvents`` on the bus, and the bus's resource policy must allow the role's
    account or organization (``aws:PrincipalOrgID`` is the role's organization). AWS
    requires a RoleArn for a bus in another Region, and for another account's bus that
    allows the sender through its organization (PutPermission, PutTargets in the
    EventBridge API reference); the local cloud requires it for every bus of another
    account or region (a bus policy naming the account itself, without a role, is not
    modelled). A refusal fails the delivery: FailedInvocations, the target's DLQ.
    """
    arn = target["Arn"]
    iam = enforcer.active()
    if iam is not None and iam.enabled:
        role_arn = target.get("RoleArn")
        if not role_arn:
            raise LookupError(
                f"target {arn} is a bus of another account or Region: EventBridge puts "
                "events there with the target's RoleArn, and it has none"
            )
        principal = iam.assume(role_arn, "events.amazonaws.com", source_arn=target.get("_RuleArn"))
        entry = {
            "EventBusName": arn,
            "Source": event.get("source"),
            "DetailType": event.get("detail-type"),
        }
        iam.require(principal, "events", "PutEvents", {"Entries": [entry]})
    forwarder = BUS_FORWARDER.get()
    (forwarder or arrive)(arn, copy.deepcopy(event))


def arrive(bus_arn: str, event: dict[str, Any]) -> None:
    """``event`` arrives on the bus ``bus_arn``: each of its rules matches and delivers it.

    The event keeps its ``account`` and ``region`` (the source's), as EventBridge forwards
    it. moto: ``events_backends[account][region].event_buses[name].rules`` and
    ``Rule.send_to_targets`` (canaries: tests/unit/localcloud/test_moto_canaries_org.py).
    """
    from moto.events.models import events_backends

    _, _, _, region, account, resource = bus_arn.split(":", 5)
    bus = events_backends[account][region].event_buses.get(resource.split("/", 1)[1])
    if bus is None:
        LOG.warning("event for %s dropped: the bus does not exist", bus_arn)
        return
    # moto's native delivery (SQS, Logs) reads when the bus received it, as EventBridge sets it.
    # ... and, like every event moto's buses hold, its time in epoch seconds.
    received = {
        **event,
        "time": _epoch(event.get("time")),
        "ingestion-time": sim.current().now().timestamp(),
    }
    for rule in list(bus.rules.values()):
        rule.send_to_targets(copy.deepcopy(received))  # type: ignore[arg-type]


def _epoch(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    return value


def _elsewhere(rule: Any, target: dict[str, Any]) -> bool:
    """A target that is an event bus of another account or region than the rule's."""
    parts = target["Arn"].split(":")
    return (
        parts[2] == "events"
        and parts[5].startswith("event-bus/")
        and (parts[4], parts[3]) != (rule.account_id, rule.region_name)
    )


def _delivery_of(rule_name: str, target: dict[str, Any], payload: Any) -> Callable[[], None]:
    return lambda: _deliver(rule_name, target, payload)


def install(delivery: EventDelivery) -> None:
    """Take over delivery to Lambda and Step Functions targets (idempotent)."""
    DELIVERY.set(delivery)
    from moto.events.models import Rule

    original = Rule.send_to_targets
    if motopatch.is_patched(original):
        return

    def send_to_targets(
        self: Any, original_event: dict[str, Any], transform_input: bool = True
    ) -> None:
        # moto delivers to disabled rules too; EventBridge does not.
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        event = dict(original_event)
        event["time"] = _event_time(event.get("time"))
        event.pop("ingestion-time", None)
        ours = [
            t
            for t in self.targets
            if t["Arn"].split(":")[2] in {"lambda", "states"} or _elsewhere(self, t)
        ]
        # A bus of this account and region (another account's or region's is forwarded).
        buses = [t for t in self.targets if _is_bus(t["Arn"]) and t not in ours]
        native = [t for t in self.targets if t not in ours and t not in buses]
        for target in buses:
            sim.current().call_later(
                0.0,
                # As received (moto's epoch time): the receiving bus's rules render it.
                _bus_delivery_of(self.name, dict(target, _RuleArn=self.arn), dict(original_event)),
                label=f"deliver:{self.name}",
            )
        delivery = DELIVERY.get()
        faults = delivery.faults if delivery is not None else None
        for target in ours:
            # A bus target gets the event itself (EventBridge forwards it unchanged).
            forwarded = _elsewhere(self, target) or not transform_input
            payload = event if forwarded else _render(target, event)
            # Asynchronous, like EventBridge: delivered after PutEvents has returned; at
            # least once and in no particular order when faults say so.
            for delay in faults.delivery_delays(event) if faults is not None else [0.0]:
                sim.current().call_later(
                    delay,
                    _delivery_of(self.name, dict(target, _RuleArn=self.arn), payload),
                    label=f"deliver:{self.name}",
                )
        if native:
            with _swap_lock:
                saved = self.targets
                self.targets = native
                try:
                    original(self, original_event, transform_input)  # type: ignore[arg-type]
                finally:
                    self.targets = saved

    motopatch.replace(Rule, "send_to_targets", send_to_targets)


def put_aws_event(account_id: str, region: str, entry: dict[str, Any]) -> str:
    """Put an event an AWS service emits on the account's default bus; its event id.

    The same entry a ``PutEvents`` request carries (``Detail`` as JSON text, ``Time`` in epoch
    seconds, as botocore sends it) handed to moto's ``EventsBackend.put_events``, which is
    what moto's ``PutEvents`` handler does with the request's ``Entries``. AWS emits its
    events itself: no account credentials, IAM or API rate applies, so the request's
    serialising, signing and parsing (most of the cost of a fleet's thousands of state
    events) is skipped. Canary: tests/unit/localcloud/test_moto_canaries_core.py.
    """
    from moto.events.models import events_backends

    [result] = events_backends[account_id][region].put_events([entry])
    if "ErrorCode" in result:
        raise RuntimeError(f"PutEvents failed: {result}")
    return str(result["EventId"])


# --- event bus targets (issue 22: a member's rule forwarding to the central bus) ----------------
#
# moto delivers to a bus target itself, but as a new event of the receiving account (its
# account, region, time and id), with no role and no bus policy. EventBridge forwards the
# event as it was and, for a bus that grants an organization rather than an account, only
# with the target's RoleArn ("accounts in that organization must specify a RoleArn",
# AWS::Events::EventBusPolicy): the role must be allowed events:PutEvents on that bus, by
# its identity policy or the bus's resource policy (the policy's aws:PrincipalOrgID
# condition is evaluated against the cloud's organization). Without a role, a bus of the
# same account receives the event as EventBridge's own (no policy applies). A refused or
# missing bus sends the event to the target's dead-letter queue, as for other targets.
# moto internals: EventsBackend.describe_event_bus(name).rules (canary:
# tests/unit/localcloud/test_events_bus_targets.py).


def _is_bus(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "events" and parts[5].startswith("event-bus/")


def _bus_delivery_of(rule_name: str, target: dict[str, Any], event: Any) -> Callable[[], None]:
    return lambda: _deliver_to_bus(rule_name, target, event)


def _deliver_to_bus(rule_name: str, target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    delivery = DELIVERY.get()
    assert delivery is not None
    arn: str = target["Arn"]
    _, _, _, region, account, resource = arn.split(":", 5)
    iam = enforcer.active()
    try:
        if iam is not None and iam.enabled:
            if target.get("RoleArn"):
                role = iam.assume(
                    target["RoleArn"], "events.amazonaws.com", source_arn=target.get("_RuleArn")
                )
                entry = {
                    "EventBusName": arn,
                    "Source": event.get("source"),
                    "DetailType": event.get("detail-type"),
                }
                iam.require(role, "events", "PutEvents", {"Entries": [entry]})
            elif account != iam.account:
                raise LookupError(f"target {arn} is in another account and has no RoleArn")
        bus = events_backends[account][region].describe_event_bus(resource.split("/", 1)[1])
        # moto's own targets (SQS, archives) read the receiving bus's ingestion time.
        received = {**event, "ingestion-time": sim.current().now().timestamp()}
        for rule in list(bus.rules.values()):
            rule.send_to_targets(dict(received))  # type: ignore[arg-type]
    except Exception as exc:
        delivery.record(Delivery(rule_name, arn, event, delivered=False, error=str(exc)))
        _dead_letter(target, event, str(exc))
        return
    delivery.record(Delivery(rule_name, arn, event, delivered=True))
