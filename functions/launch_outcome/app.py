"""Launch outcome: where a run's instance belongs and what its outcome does to launch churn.

A workflow task of patch-new-instance, called at release (see ``fleetpatch.launch_outcome``):
its answer gives the lifecycle result to release the instance with, the environment and
Auto Scaling group for the report, and the group's churn decision (announce, stay quiet,
or escalate, having suspended the group's Launch process if the policy says so).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws, clock
from fleetpatch.churn import ChurnRecords
from fleetpatch.launch_outcome import OutcomeRequest, account_launch


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = OutcomeRequest.model_validate(event)
    outcome = account_launch(
        request,
        ec2=aws.client("ec2"),
        autoscaling=aws.client("autoscaling"),
        records=ChurnRecords(aws.client("dynamodb"), load_config(Config).table_name),
        now=clock.now,
    )
    if outcome.churn is not None and outcome.churn.counted:
        logger.info(
            "launch failure counted",
            extra={
                "group": outcome.churn.group,
                "streak": outcome.churn.streak,
                "announce": outcome.churn.announce,
                "suspended": outcome.suspended,
            },
        )
    return outcome.as_dict()
