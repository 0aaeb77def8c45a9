"""A serving instance's outcome: what patch-serving-instance's ASL writes, the gate reads.

The ASL (``statemachines/patch_serving_instance.asl.json``) spells these names in its
``outcome`` assignments; ``tests/unit/test_asl_contracts.py`` checks it spells no other.
"""

from __future__ import annotations

from typing import Literal, get_args

ServingOutcome = Literal[
    "patched",  # back in service, healthy
    "rolled-back",  # unhealthy after the patch, restored from its snapshot, back in service
    "unhealthy",  # out of service: failed a health check (and its rollback, if any)
    "not-drained",  # draining did not end in time: put back unpatched
    "budget-exhausted",  # never got a place in its disruption budget: not patched
    "patch-failed",  # the install, a hook or the snapshot failed: see the reason
    "gone",  # terminated while the workflow ran
    "error",  # a step failed in a way no retry fixed: see the reason
]
SERVING_OUTCOMES: tuple[ServingOutcome, ...] = get_args(ServingOutcome)
FAILED_OUTCOMES: frozenset[str] = frozenset(
    {"rolled-back", "unhealthy", "not-drained", "patch-failed", "gone", "error"}
)
"""Outcomes the gate counts as failed. ``budget-exhausted`` is "not reached": not patched."""
HOLDS_BUDGET: frozenset[str] = frozenset({"unhealthy"})
"""Outcomes that leave the instance out of service: its budget places stay taken."""
