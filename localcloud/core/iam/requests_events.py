"""What an EventBridge PutEvents request touches, for IAM (issue 22; a request model of
:mod:`.requests`, registered by the enforcer like :mod:`.requests_ec2`).

PutEvents is authorized per event bus its entries name (the account's default bus when an
entry names none; a name or an ARN), with the request's sources and detail-types as the
``events:source`` and ``events:detail-type`` condition keys (Service Authorization
Reference, EventBridge: PutEvents, resource type ``event-bus``); the bus's own resource
policy applies too (``AWS::Events::EventBusPolicy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localcloud.core.iam.requests import Check, Lookups, Target

Model = Callable[[Mapping[str, Any], Lookups], list[Check]]


def _put_events(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    by_bus: dict[str, list[Mapping[str, Any]]] = {}
    for entry in params.get("Entries") or []:
        name = str(entry.get("EventBusName") or "default")
        arn = (
            name
            if name.startswith("arn:")
            else f"arn:{lookups.partition}:events:{lookups.region}:{lookups.account}:"
            f"event-bus/{name}"
        )
        by_bus.setdefault(arn, []).append(entry)
    return [
        Check(
            "events:PutEvents",
            [Target("event-bus", arn)],
            {
                "events:source": sorted({str(e.get("Source")) for e in entries}),
                "events:detail-type": sorted({str(e.get("DetailType")) for e in entries}),
            },
            resource_policy=("events", arn),
        )
        for arn, entries in by_bus.items()
    ]


MODELS: dict[str, Model] = {"events:PutEvents": _put_events}
