"""Dates on the local cloud's simulated clock, where moto stamps them with the wall clock.

moto 5.2.5 stamps an S3 object's ``LastModified`` (and object-lock retention, and its daily
storage metrics), an SSM parameter's ``LastModifiedDate`` (and its other SSM records) and a
CloudWatch alarm's state-update time with the wall clock, so on the local cloud a thing
written during a simulated run reads as written today, before or after anything else the run
did. AWS stamps it when it is written: here that is the simulated time, like every other
date the local cloud reports (a promoted wave's report says when its patch list was
recorded; a wave's report, when the fleet policy changed under it). Likewise CloudWatch
Logs accepts a log event stamped from 14 days before to 2 hours after its own now: the
simulated now, so Lambda logs written with simulated timestamps are kept.

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_core.py): the
module-level ``utcnow`` of ``moto.s3.models``, ``moto.ssm.models`` and ``moto.logs.models``
(its PutLogEvents window, group and stream creation times) replaced by
:func:`utcnow` (``localcloud.adapters.cloudwatch`` swaps CloudWatch's with it too).
"""

from __future__ import annotations

from datetime import UTC, datetime

from localcloud.core import clock as sim

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).


def utcnow() -> datetime:
    """moto's ``utcnow`` (naive UTC), on the simulated clock."""
    return sim.current().now().astimezone(UTC).replace(tzinfo=None)


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.logs import models as logs
    from moto.s3 import models as s3
    from moto.ssm import models as ssm

    s3.utcnow = utcnow  # type: ignore[attr-defined]
    ssm.utcnow = utcnow  # type: ignore[attr-defined]
    logs.utcnow = utcnow  # type: ignore[attr-defined]
