"""Waves: start a wave's gated run when its window opens (the batch-gate function).

The run's own tasks are in :mod:`fleetpatch.services.waves`; this module, apart so
batch-gate imports none of them, starts the run (:func:`start_for_window_task`,
:func:`start_for_window_event`).

Each wave's window has one LAMBDA task that invokes batch-gate (as the stack's window task
role) with ``{"source": "fleetpatch.window", "wave": ..., "windowId": ...}``, and the
window's end is also announced by EventBridge (``Maintenance Window Execution State-change
Notification``): whichever comes first starts the run, named after the window execution,
and the other finds it started (``fleetpatch.workflows.start_once``). The event is the
backstop for a task that failed (a crashed invocation is not retried by Systems Manager);
the task, for an event never delivered. The run patches every batch, the first included,
with the control plane's batch membership: the window itself patches nothing.

Only the stack's own windows start waves: the window must carry the ``fleetpatch:wave`` and
``fleetpatch:stage`` tags the policy stack sets. A window event delivered more than an hour
after the window ended (EventBridge's retry limit for the rule) starts nothing: it is
reported, and a wave never starts long after its window.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Protocol

from fleetpatch import aws, clock
from fleetpatch.contracts.names import window_run_name
from fleetpatch.contracts.tags import STAGE_TAG, WAVE_TAG
from fleetpatch.exclusions_aws import sync_baselines
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.waves import governance_input, promotion_arguments, run_input
from fleetpatch.workflows import start_once

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from fleetpatch.events import WindowExecutionEvent

LOG = logging.getLogger(__name__)

# A window event later than this after the window's end starts nothing by itself.
LATE_EVENT = timedelta(hours=1)


class WaveStartSettings(Protocol):
    """What the batch-gate function is configured with."""

    @property
    def state_machine_arn(self) -> str: ...
    @property
    def policy_parameter(self) -> str: ...
    @property
    def stage(self) -> str: ...


def start_for_window_task(
    wave: str, window_id: str, settings: WaveStartSettings, *, client: ClientFactory = aws_client
) -> dict[str, str]:
    """The window task of ``wave`` ran: start the wave's run for the window's execution."""
    ssm: SSMClient = client("ssm")
    tagged, refused = _wave_of(ssm, window_id, settings.stage)
    if refused is None and tagged != wave:
        refused = f"window {window_id} is the {tagged} wave's, not {wave}'s"
    if refused is not None:
        LOG.warning("window refused", extra={"window": window_id, "reason": refused})
        return {"route": "ignored", "reason": refused}
    execution_id = _running_execution(ssm, window_id)
    if execution_id is None:
        return {"route": "ignored", "reason": f"window {window_id} is not running"}
    return _start(settings, tagged, window_id, execution_id, client)


def start_for_window_event(
    event: WindowExecutionEvent, settings: WaveStartSettings, *, client: ClientFactory = aws_client
) -> dict[str, str]:
    """A wave's window execution ended (the backstop): start its run unless late."""
    detail = event.detail
    wave, refused = _wave_of(client("ssm"), detail.window_id, settings.stage)
    if refused is not None:
        return {"route": "ignored", "reason": refused}
    ended = detail.end_time or event.time
    late = clock.now() - ended
    if late > LATE_EVENT:
        LOG.error(
            "late window event: no wave started",
            extra={"window": detail.window_id, "execution": detail.window_execution_id},
        )
        return {
            "route": "ignored",
            "reason": f"window {detail.window_id} ended {late} ago: a window event later than "
            f"{LATE_EVENT} starts no wave (run `fleetpatch wave start {wave}` to patch now)",
        }
    return _start(settings, wave, detail.window_id, detail.window_execution_id, client)


def _start(
    settings: WaveStartSettings,
    wave: str,
    window_id: str,
    execution_id: str,
    client: ClientFactory,
) -> dict[str, str]:
    policy = aws.compiled_policy(settings.policy_parameter)
    if wave not in policy.waves:
        return {"route": "ignored", "reason": f"wave {wave} is not in the fleet policy"}
    # issue 21: the baselines reject what the policy's exclusions keep off today, no more.
    sync_baselines(client("ssm"), policy.exclusions, policy.patch_groups, clock.now())
    started = start_once(
        client("stepfunctions"),
        settings.state_machine_arn,
        window_run_name(execution_id),
        run_input(
            wave,
            [batch.model_dump(by_alias=True) for batch in policy.waves[wave].batches],
            window_id=window_id,
            window_execution_id=execution_id,
            governance=governance_input(policy, wave, clock.now()),
            **promotion_arguments(policy, wave),
        ),
    )
    if started.duplicate:
        LOG.info("wave run already started", extra={"execution": started.name})
        return {"route": "batch-gate", "reason": "duplicate: run already started"}
    LOG.info("started gated-wave", extra={"wave": wave, "execution": started.name})
    return {"route": "batch-gate", "reason": f"window of wave {wave}", "execution": started.name}


def _wave_of(ssm: SSMClient, window_id: str, stage: str) -> tuple[str, str | None]:
    """The wave whose window ``window_id`` is in this stage, or why it is none."""
    tags = {
        t["Key"]: t["Value"]
        for t in ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=window_id)[
            "TagList"
        ]
    }
    wave = tags.get(WAVE_TAG, "")
    if not wave or tags.get(STAGE_TAG) != stage:
        return wave, (
            f"window {window_id} is no wave's window of stage {stage} (it lacks the "
            f"{WAVE_TAG} and {STAGE_TAG} tags the policy stack sets)"
        )
    return wave, None


def _running_execution(ssm: SSMClient, window_id: str) -> str | None:
    """The window's running execution (windows never overlap themselves).

    The API filters by start time only (ExecutedAfter); a window lasts at most 24 hours.
    """
    since = (clock.now() - timedelta(hours=24)).astimezone(UTC)
    executions = ssm.describe_maintenance_window_executions(
        WindowId=window_id,
        Filters=[{"Key": "ExecutedAfter", "Values": [since.strftime("%Y-%m-%dT%H:%M:%SZ")]}],
    )["WindowExecutions"]
    running = [e for e in executions if e["Status"] == "IN_PROGRESS"]
    return str(running[0]["WindowExecutionId"]) if running else None
