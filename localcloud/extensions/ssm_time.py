"""SSM on the local cloud: parameters (and moto's other SSM records) on simulated time.

moto 5.2.5 stamps a parameter's ``LastModifiedDate`` with the wall clock, so a parameter
written during a simulated run reads as written today, after everything else the run did.
Systems Manager stamps it when it is written: here that is the simulated time, like every
other date the local cloud reports (a wave's report says when the fleet policy changed
under it).

moto internals touched (canary in tests/unit/localcloud/test_moto_canaries_core.py): the
module-level ``moto.ssm.models.utcnow`` replaced by the simulated clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from localcloud import clock as sim


def _utcnow() -> datetime:
    # moto's utcnow: naive UTC, here on the simulated clock.
    return sim.current().now().astimezone(UTC).replace(tzinfo=None)


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.ssm import models

    models.utcnow = _utcnow  # type: ignore[attr-defined]
