"""S3 on the local cloud: objects are stamped with simulated time.

moto 5.2.5 stamps an object's ``LastModified`` (and object-lock retention, and its daily
storage metrics) with the wall clock, so on the local cloud an object written during a
simulated run reads as written today, before or after anything else the run did. S3 stamps
it when it is written: here that is the simulated time, like every other date the local
cloud reports (a promoted wave's report says when its patch list was recorded).

moto internals touched (canary in tests/unit/localcloud/test_moto_canaries_core.py): the
module-level ``moto.s3.models.utcnow`` replaced by the simulated clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from localcloud import clock as sim


def _utcnow() -> datetime:
    # moto's utcnow: naive UTC, here on the simulated clock.
    return sim.current().now().astimezone(UTC).replace(tzinfo=None)


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.s3 import models

    models.utcnow = _utcnow  # type: ignore[attr-defined]
