"""What an EventBridge PutEvents request touches, for IAM (registered by the enforcer).

Per the Service Authorization Reference: ``events:PutEvents`` on each ``event-bus`` the
entries name (``EventBusName``, a name or an ARN; none: the default bus). A bus of another
account or region is named by its ARN; its resource policy (PutPermission,
``AWS::Events::EventBusPolicy``) applies, and a bus of another account must allow the
caller there (cross-account evaluation, :func:`localcloud.core.iam.policy.evaluate`).
EventBridge itself asks the same question when a rule's target is another account's bus
(``localcloud.adapters.events``), as the target's role (``RoleArn``). The
request's sources and detail-types are the ``events:source`` and ``events:detail-type``
condition keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localcloud.core.iam.requests import Check, Lookups, Target

Model = Callable[[Mapping[str, Any], Lookups], list[Check]]


def bus_arn(lookups: Lookups, name: str | None) -> str:
    """The ARN of the bus ``name`` (a name in the caller's account and region, or an ARN)."""
    if name and name.startswith("arn:"):
        return name
    return (
        f"arn:{lookups.partition}:events:{lookups.region}:{lookups.account}:"
        f"event-bus/{name or 'default'}"
    )


def _put_events(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    by_bus: dict[str, list[Mapping[str, Any]]] = {}
    for entry in params.get("Entries") or []:
        by_bus.setdefault(bus_arn(lookups, entry.get("EventBusName")), []).append(entry)
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
