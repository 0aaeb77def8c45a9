"""Commands: a workflow waits for its patch command; the command's status resumes it.

await-command parks a task token until the command (or one invocation) finishes;
command-status records each final status and resumes the waiter. ``fleetpatch.command_waiters``
owns the race-free handshake between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetpatch.command_waiters import WHOLE_COMMAND, CommandWaiters, InvocationKey
from fleetpatch.services import ClientFactory, aws_client

if TYPE_CHECKING:
    from fleetpatch.events import CommandInvocationEvent, CommandStatusEvent


def _waiters(table_name: str, client: ClientFactory) -> CommandWaiters:
    return CommandWaiters(table_name, client("dynamodb"), client("stepfunctions"))


def await_command(
    table_name: str,
    task_token: str,
    command_id: str,
    instance_id: str | None,
    *,
    client: ClientFactory = aws_client,
) -> bool:
    """Register the task token; True when the command had finished already (resumed now)."""
    return _waiters(table_name, client).register_waiter(
        InvocationKey(command_id, instance_id or WHOLE_COMMAND), task_token
    )


def record_status(
    event: CommandInvocationEvent | CommandStatusEvent,
    table_name: str,
    *,
    client: ClientFactory = aws_client,
) -> bool:
    """Record a command's (or an invocation's) final status; True when a waiter resumed."""
    # Imported here: await-command, which shares this module, never parses an event.
    from fleetpatch.events import CommandStatusEvent

    if isinstance(event, CommandStatusEvent):
        key = InvocationKey(event.detail.command_id)  # a batch waits on the whole command
    else:
        key = InvocationKey(event.detail.command_id, event.detail.instance_id)
    return _waiters(table_name, client).record_status(key, event.detail.status)
