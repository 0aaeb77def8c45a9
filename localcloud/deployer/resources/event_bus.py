"""issue 22: EventBridge event buses and their resource policies (the central stack's bus).

``AWS::Events::EventBusPolicy`` is one statement of the bus's policy (CloudFormation runs
PutPermission with it); its ``Statement`` form is supported, the older Action/Principal/
Condition form is not (the template does not use it). The statement's ``Sid`` is the
resource's ``StatementId``, as CloudFormation writes it.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, tags


@creates(passes="Description", applies="Name Tags")
def event_bus(ctx: Context, res: Resource) -> Created:
    name = str(res.require("Name"))
    arn = ctx.call(
        "events",
        "create_event_bus",
        Name=name,
        Tags=[{"Key": k, "Value": v} for k, v in tags(res.properties).items()],
        **res.passed,
    )["EventBusArn"]
    return Created(name, {"Arn": arn, "Name": name})


@creates(applies="EventBusName StatementId Statement")
def event_bus_policy(ctx: Context, res: Resource) -> Created:
    bus = str(res.properties.get("EventBusName") or "default")
    statement_id = str(res.require("StatementId"))
    statement = {"Sid": statement_id, **dict(res.require("Statement"))}
    current = ctx.call("events", "describe_event_bus", Name=bus).get("Policy")
    document: dict[str, Any] = (
        json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    )
    kept = [s for s in document["Statement"] if s.get("Sid") != statement_id]
    document["Statement"] = [*kept, statement]
    ctx.call("events", "put_permission", EventBusName=bus, Policy=json.dumps(document))
    return Created(statement_id)
