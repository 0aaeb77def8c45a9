"""Central ingest (the central stack, issue 22): a member's forwarded event, into the org index.

Validated at the edge (``fleetpatch.shared_events``); ``fleetpatch.services.central`` says
why a repeated delivery is harmless and where an invalid one goes.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import Field


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_ORG_INDEX_TABLE", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)
    bucket: str = Field(alias="FLEETPATCH_CENTRAL_REPORTS_BUCKET", min_length=3)
    region: str = Field(alias="AWS_REGION", min_length=1)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.services.central import file_event
    from fleetpatch.shared_events import parse_shared_event

    return file_event(parse_shared_event(event), load_config(Config))
