"""The one router: a valid event maps to exactly one route, with a reason.

Used by the Lambda handlers (each checks that the event is its own) and by the CLI
(``fleetpatch events check``), so operators see exactly what the control plane would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, assert_never

from fleetpatch.contracts.names import HOOK_DOCUMENT_PREFIX
from fleetpatch.events import (
    PATCH_DOCUMENTS,
    TERMINAL_COMMAND_STATUSES,
    TERMINAL_WINDOW_STATUSES,
    CommandInvocationEvent,
    CommandStatusEvent,
    ComplianceChangeEvent,
    EmergencyRequestEvent,
    FleetEvent,
    InspectorFindingEvent,
    InstanceStateChangeEvent,
    LaunchLifecycleActionEvent,
    PatchComplianceDetail,
    WindowExecutionEvent,
    WindowTargetInvocationEvent,
    WindowTaskExecutionEvent,
    parse_event,
)


class Route(StrEnum):
    PATCH_ON_LAUNCH = "patch-on-launch"
    BATCH_GATE = "batch-gate"
    COMPLIANCE_CHANGE = "compliance-change"
    COMMAND_STATUS = "command-status"
    EMERGENCY = "emergency"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: Route
    reason: str


def route_event(event: FleetEvent) -> RouteDecision:
    """Decide which route owns a validated event, and say why."""
    match event:
        case LaunchLifecycleActionEvent():
            return _launch_route(event)
        case InstanceStateChangeEvent():
            return _instance_state_route(event)
        case WindowExecutionEvent():
            return _window_route(event)
        case WindowTaskExecutionEvent(detail=d) | WindowTargetInvocationEvent(detail=d):
            return RouteDecision(
                Route.IGNORED,
                f"task-level event of window {d.window_id} ({d.status}); "
                "the gate reads per-instance evidence when the window execution ends",
            )
        case ComplianceChangeEvent():
            return _compliance_route(event)
        case CommandInvocationEvent(detail=d):
            return _command_route(d.command_id, d.document_name, d.status, f" on {d.instance_id}")
        case CommandStatusEvent(detail=d):
            return _command_route(d.command_id, d.document_name, d.status, " on all its instances")
        case InspectorFindingEvent():
            return _finding_route(event)
        case EmergencyRequestEvent(detail=d):
            return RouteDecision(
                Route.EMERGENCY, f"emergency requested for {d.cve} by {d.requested_by}"
            )
        case _:
            assert_never(event)


def _launch_route(event: LaunchLifecycleActionEvent) -> RouteDecision:
    d = event.detail
    transition = f" ({d.origin} -> {d.destination})" if d.origin and d.destination else ""
    return RouteDecision(
        Route.PATCH_ON_LAUNCH,
        f"launch lifecycle action for {d.instance_id} in group "
        f"{d.auto_scaling_group_name}{transition}",
    )


def _instance_state_route(event: InstanceStateChangeEvent) -> RouteDecision:
    d = event.detail
    if d.state == "running":
        return RouteDecision(Route.PATCH_ON_LAUNCH, f"instance {d.instance_id} is running")
    return RouteDecision(
        Route.IGNORED,
        f"instance {d.instance_id} is {d.state}; only 'running' starts a patch",
    )


def _window_route(event: WindowExecutionEvent) -> RouteDecision:
    d = event.detail
    if d.status in TERMINAL_WINDOW_STATUSES:
        return RouteDecision(
            Route.BATCH_GATE,
            f"window {d.window_id} execution {d.window_execution_id} ended {d.status}",
        )
    return RouteDecision(
        Route.IGNORED,
        f"window {d.window_id} execution is {d.status}; the gate waits for a terminal status",
    )


def _compliance_route(event: ComplianceChangeEvent) -> RouteDecision:
    d = event.detail
    if isinstance(d, PatchComplianceDetail):
        return RouteDecision(
            Route.COMPLIANCE_CHANGE,
            f"patch compliance of {d.resource_id} is {d.compliance_status}",
        )
    return RouteDecision(
        Route.IGNORED,
        f"association compliance of {d.resource_id} ({d.compliance_type}) is not patch compliance",
    )


def _command_route(command_id: str, document: str, status: str, where: str) -> RouteDecision:
    if document not in PATCH_DOCUMENTS and not document.startswith(HOOK_DOCUMENT_PREFIX):
        return RouteDecision(
            Route.IGNORED,
            f"command {command_id} runs {document}, not a patch document or a fleetpatch hook",
        )
    if status not in TERMINAL_COMMAND_STATUSES:
        return RouteDecision(
            Route.IGNORED, f"command {command_id}{where} is {status}; waiting for a final status"
        )
    return RouteDecision(Route.COMMAND_STATUS, f"command {command_id}{where} ended {status}")


def _finding_route(event: InspectorFindingEvent) -> RouteDecision:
    d = event.detail
    details = d.package_vulnerability_details
    if d.type != "PACKAGE_VULNERABILITY" or details is None:
        return RouteDecision(Route.IGNORED, f"{d.type} finding: only package vulnerabilities")
    if d.status != "ACTIVE":
        return RouteDecision(
            Route.IGNORED, f"finding for {details.vulnerability_id} is {d.status}, not ACTIVE"
        )
    if not d.instance_ids():
        return RouteDecision(
            Route.IGNORED, f"finding for {details.vulnerability_id} is about no EC2 instance"
        )
    return RouteDecision(
        Route.EMERGENCY,
        f"{d.severity} finding for {details.vulnerability_id} on {', '.join(d.instance_ids())} "
        "(the policy's emergency.inspector decides)",
    )


def route_raw(raw: Any, *, source_name: str | None = None) -> tuple[FleetEvent, RouteDecision]:
    """Validate then route; raises ``InvalidEventError`` naming the field."""
    event = parse_event(raw, source_name=source_name)
    return event, route_event(event)
