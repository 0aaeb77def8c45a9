"""The AWS service events the simulators emit (EC2 and Auto Scaling), as AWS shapes them.

The detail types and ARNs are written out here from AWS's documentation on purpose, not
imported from the product: the simulator is an independent oracle of what AWS sends.
"""

from __future__ import annotations

from typing import Any

from localcloud.core.context import Cloud

STATE_CHANGE_DETAIL_TYPE = "EC2 Instance State-change Notification"
LIFECYCLE_DETAIL_TYPE = "EC2 Instance-launch Lifecycle Action"


def instance_arn(cloud: Cloud, instance_id: str) -> str:
    return f"arn:aws:ec2:{cloud.region}:{cloud.account_id}:instance/{instance_id}"


def emit_soon(  # noqa: PLR0917 - an event's four parts, as EventBridge names them
    cloud: Cloud,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
    name: str,
) -> None:
    """Put the event on a zero-delay timer (EventBridge is asynchronous).

    Safe to call from inside a moto request (an EC2 or Auto Scaling API call being handled).
    """
    cloud.clock.call_later(0, lambda: cloud.emit(source, detail_type, detail, resources), name)


def emit_instance_state(cloud: Cloud, instance_id: str, state: str) -> None:
    """Emit "EC2 Instance State-change Notification" for ``instance_id`` entering ``state``."""
    emit_soon(
        cloud,
        "aws.ec2",
        STATE_CHANGE_DETAIL_TYPE,
        {"instance-id": instance_id, "state": state},
        [instance_arn(cloud, instance_id)],
        f"ec2:event:{instance_id}:{state}",
    )
