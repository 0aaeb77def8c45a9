"""Constrained AWS ids: one owner for each id's format, as events and workflows carry them.

Kept apart from :mod:`fleetpatch.events` (which re-exports them) so a handler that only
takes an id imports these few ``Annotated`` types, not every event model.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# Command ids, window execution / task / target ids and lifecycle action tokens are UUIDs.
# AWS accepts either case: the SSM API's patterns are [0-9a-fA-F] (MaintenanceWindowExecutionId
# and the other window ids; CommandId and Auto Scaling's LifecycleActionToken only fix the
# length at 36), https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_MaintenanceWindowExecution.html
# Ids are kept as AWS wrote them, not lower-cased: they go back to AWS verbatim
# (CompleteLifecycleAction, GetCommandInvocation), and the execution names and waiter keys
# built from them meet only ids from the same AWS source, which repeats them byte for byte
# (a duplicate event carries the same token; a command's events carry SendCommand's id).
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

InstanceId = Annotated[str, StringConstraints(pattern=r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")]
# Compliance also reports hybrid (on-premises) managed instances as mi-...
ManagedInstanceId = Annotated[
    str, StringConstraints(pattern=r"^(?:i-(?:[0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")
]
WindowId = Annotated[str, StringConstraints(pattern=r"^mw-[0-9a-f]{17}$")]
Uuid = Annotated[str, StringConstraints(pattern=rf"^{_UUID}$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(?:-[a-z]+)+-[0-9]$")]
PatchBaselineId = Annotated[
    str,
    StringConstraints(
        pattern=r"^(?:arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:patchbaseline/)?pb-[0-9a-f]{17}$"
    ),
]
AutoScalingGroupName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
LifecycleHookName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-_/]{1,255}$")]
DocumentName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_\-.:/]{3,128}$")]
