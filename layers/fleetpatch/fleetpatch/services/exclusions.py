"""The daily exclusions sync: each baseline rejects what the policy's exclusions keep off today.

Invoked by the stack's schedule a minute after 00:00 UTC (template.yaml
``SyncExclusionsSchedule``), so an exclusion stops applying on its date for launches and
remediation too, not only at the next wave's start (which syncs as well). Idempotent: a
baseline already right is not written (``fleetpatch.exclusions_aws.sync_baselines``).
"""

from __future__ import annotations

import logging
from typing import Any

from fleetpatch import aws, clock
from fleetpatch.exclusions_aws import sync_baselines
from fleetpatch.services import ClientFactory, aws_client

LOG = logging.getLogger(__name__)


def sync(policy_parameter: str, *, client: ClientFactory = aws_client) -> dict[str, Any]:
    policy = aws.compiled_policy(policy_parameter)
    done = sync_baselines(client("ssm"), policy.exclusions, policy.patch_groups, clock.now())
    changed = [s.baseline_id for s in done if s.changed]
    LOG.info("exclusions synced", extra={"baselines": len(done), "changed": changed})
    return {"baselines": len(done), "changed": changed}
