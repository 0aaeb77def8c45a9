"""What happened on the local cloud, in simulated-time order: the timeline and the result.

The recorder listens where things happen (EventBridge deliveries, Lambda invocations,
scenario steps, simulators) and, at the end, reads the outcome through the AWS APIs:
workflow runs from Step Functions and the run records, messages from an SQS queue
subscribed to every SNS topic of the stack, commands from Run Command.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetpatch.contracts.keys import launch_run_key
from localcloud.adapters.awslambda import Invocation
from localcloud.adapters.events import Delivery

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.slack import SlackWebhookReceiver

MESSAGES_QUEUE = "localcloud-published-messages"
# A handler's result in the timeline: enough to see what it decided.
SUMMARY_LIMIT = 200

# Logical ids of the stack's state machines -> the kind of run they make.
RUN_KINDS = {"PatchNewInstanceStateMachine": "launch", "GatedWaveStateMachine": "wave"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    category: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "category": self.category, "text": self.text}


@dataclass
class Recorder:
    cloud: LocalCloud
    entries: list[Entry] = field(default_factory=list)
    # The local stand-in for the Slack webhook, when the demo set one up.
    slack: SlackWebhookReceiver | None = None
    _queue_url: str | None = None
    _collected: list[dict[str, Any]] = field(default_factory=list)

    def attach(self) -> None:
        self.cloud.delivery.listeners.append(self._on_delivery)
        self.cloud.lambdas.on_invocation(self._on_invocation)

    def note(self, category: str, text: str) -> None:
        self.entries.append(Entry(self.cloud.clock.now(), category, text))

    def _on_delivery(self, delivery: Delivery) -> None:
        detail_type = (
            delivery.event.get("detail-type", "event")
            if isinstance(delivery.event, dict)
            else "event"
        )
        target = delivery.target_arn.rsplit(":", 1)[-1]
        if delivery.delivered:
            self.note("event", f"{detail_type} -> {target}")
        else:
            self.note("event", f"{detail_type} -> {target} NOT delivered: {delivery.error}")

    def _on_invocation(self, invocation: Invocation) -> None:
        if invocation.error_type is not None:
            self.note(
                "lambda",
                f"{invocation.function_name} failed: "
                f"{invocation.error_type}: {invocation.error_message}",
            )
            return
        result = invocation.result
        summary = ""
        if isinstance(result, dict):
            summary = " ".join(
                f"{k}={v}" for k, v in result.items() if isinstance(v, str | int | bool)
            )
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1] + "…"
        self.note("lambda", f"{invocation.function_name}: {summary}".rstrip(": "))

    # --- messages published to SNS ----------------------------------------------------------------

    def subscribe_to_topics(self) -> None:
        """Subscribe one queue to every SNS topic, to see what operators would receive."""
        sqs = self.cloud.client("sqs")
        sns = self.cloud.client("sns")
        self._queue_url = sqs.create_queue(QueueName=MESSAGES_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for topic in sns.list_topics()["Topics"]:
            sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=queue_arn)

    def messages(self) -> list[dict[str, Any]]:
        """What operators received: every SNS message (read off a queue), then Slack's."""
        slack = [
            {
                "channel": "slack",
                "topic": None,
                "subject": request.body.get("text") if isinstance(request.body, dict) else None,
                "message": request.body,
                "attributes": {"status": str(request.status)},
            }
            for request in (self.slack.messages if self.slack is not None else [])
        ]
        return self._sns_messages() + slack

    def _sns_messages(self) -> list[dict[str, Any]]:
        # Read once and kept: the queue hands each message out a single time.
        if self._queue_url is None:
            return []
        sqs = self.cloud.client("sqs")
        collected = self._collected
        while True:
            batch = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return list(collected)
            for message in batch:
                envelope = json.loads(message["Body"])
                body = envelope.get("Message", "")
                try:
                    parsed: Any = json.loads(body)
                except ValueError:
                    parsed = body
                collected.append(
                    {
                        "channel": "sns",
                        "topic": envelope.get("TopicArn"),
                        "subject": envelope.get("Subject"),
                        "message": parsed,
                        "attributes": {
                            k: v.get("Value")
                            for k, v in envelope.get("MessageAttributes", {}).items()
                        },
                    }
                )
            sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )

    # --- workflow runs ----------------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """Every execution of the stack's state machines, with its outcome."""
        stack = self.cloud.stack
        if stack is None:
            return []
        sfn = self.cloud.client("stepfunctions")
        runs: list[dict[str, Any]] = []
        for logical_id, kind in RUN_KINDS.items():
            if logical_id not in stack.resources:
                continue
            arn = stack.state_machine_arn(logical_id)
            for summary in sfn.list_executions(stateMachineArn=arn)["executions"]:
                execution = sfn.describe_execution(executionArn=summary["executionArn"])
                runs.append(_run_of(kind, execution, self._run_record(execution["name"])))
        return sorted(runs, key=lambda run: (run["started"], run["name"]))

    def _run_record(self, run_id: str) -> dict[str, str]:
        """The record a workflow wrote for its run in the state table (empty if none)."""
        stack = self.cloud.stack
        if stack is None or "StateTable" not in stack.resources:
            return {}
        item = (
            self.cloud.client("dynamodb")
            .get_item(
                TableName=stack.physical_id("StateTable"),
                Key=launch_run_key(run_id),
            )
            .get("Item", {})
        )
        return {key: value["S"] for key, value in item.items() if "S" in value}

    def invocations(self) -> list[dict[str, Any]]:
        return [
            {
                "function": i.function_name,
                "at": i.started,
                "asynchronous": i.asynchronous,
                "attempt": i.attempt,
                "error": f"{i.error_type}: {i.error_message}" if i.error_type else None,
            }
            for i in self.cloud.lambdas.invocations
        ]

    def timeline(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: e.at)


def _run_of(kind: str, execution: dict[str, Any], record: dict[str, str]) -> dict[str, Any]:
    payload = json.loads(execution.get("input") or "{}")
    output = json.loads(execution["output"]) if execution.get("output") else None
    status = execution["status"]
    run: dict[str, Any] = {
        "kind": kind,
        "name": execution["name"],
        "arn": execution["executionArn"],
        "status": status,
        "started": execution.get("startDate"),
        "stopped": execution.get("stopDate"),
    }
    if kind == "launch":
        finished = status in {"SUCCEEDED", "FAILED"}
        lifecycle_result = record.get("lifecycle_result") or (output or {}).get("lifecycleResult")
        run["trigger"] = payload.get("trigger")
        if payload.get("trigger") == "remediation":
            # The same workflow, started by compliance drift rather than a launch.
            run["kind"] = "remediation"
        run["instances"] = [
            {
                "instance_id": payload.get("instanceId"),
                "outcome": record.get("outcome")
                or ((output or {}).get("outcome") if status == "SUCCEEDED" else None)
                or ("failed" if finished else None),
                "reason": record.get("reason") or execution.get("error"),
                "detail": record.get("message") or execution.get("cause"),
                "lifecycle_result": None if lifecycle_result == "NONE" else lifecycle_result,
                "command_id": record.get("command_id") or None,
            }
        ]
    elif kind == "wave":
        # A wave run is reported as a whole: its outcome, and why (the held gate's reasons).
        run["wave"] = payload.get("wave")
        run["outcome"] = (output or {}).get("outcome") or execution.get("error")
        run["detail"] = (output or {}).get("message") or execution.get("cause")
        run["instances"] = [{"outcome": run["outcome"], "detail": run["detail"]}]
    elif output is not None:
        run["instances"] = output.get("instances", [])
    return run


def as_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return as_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): as_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_jsonable(v) for v in value]
    return value
