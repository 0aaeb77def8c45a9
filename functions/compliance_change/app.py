"""Compliance change: record an instance's patch compliance state and its transitions.

Each change of state is kept in the state table's history; drift and recovery also wait
there for the digest (see ``fleetpatch.compliance``). Duplicates and late events change
nothing.
"""

from __future__ import annotations

import time
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws
from fleetpatch.compliance import ComplianceChange, ComplianceLedger
from fleetpatch.events import ComplianceChangeEvent, PatchComplianceDetail
from fleetpatch.routing import Route


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed, decision = accept_event(event, Route.COMPLIANCE_CHANGE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, ComplianceChangeEvent)
    detail = parsed.detail
    assert isinstance(detail, PatchComplianceDetail)
    ledger = ComplianceLedger(aws.client("dynamodb"), load_config(Config).table_name, time.time)
    recorded = ledger.record(
        ComplianceChange(
            instance_id=detail.resource_id,
            status=detail.compliance_status,
            baseline_id=detail.patch_baseline_id,
            severity=detail.severity,
            event_time=parsed.time,
            event_id=parsed.id,
        )
    )
    logger.info(
        "compliance recorded",
        extra={"instance": detail.resource_id, "transition": recorded.transition},
    )
    return {
        "route": decision.route.value,
        "reason": decision.reason,
        "transition": recorded.transition,
        "notify": recorded.notify,
    }
