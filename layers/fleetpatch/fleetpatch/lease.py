"""One run per wave at a time: the wave's lease in the state table.

Two runs of one wave must not overlap (a run outlives its window by the bake, and by up to
8 hours a command when events are lost; ``fleetpatch wave start`` can run next to a
window's run): both would patch the same batch, and ``max_concurrency`` would no longer
hold across them. So the gated-wave workflow takes its wave's lease before it sends
anything, and gives it back at its end, whatever the outcome:

* **take** (``TakeLease``): one conditional write, ``attribute_not_exists(pk) OR run_id =
  :run OR expires_at < :now``. Of two runs racing for it, one write wins; the other is
  refused (``WaveAlreadyRunning``), names the holder (``LeaseHolder``), announces it and
  ends without sending.
* **renew** (``RenewLease``, after each round's send): the lease runs until the longest the
  run can go without renewing it (``renewal_horizon``), on condition the run still holds it.
  A run that lost it (expired and taken over, or released by ``wave stop``) goes no
  further (``LeaseLost``).
* **release** (``ReleaseLease``): deleted on condition the run holds it, on every path to
  the run's end; a refused run holds nothing and releases nothing.

A run that dies without releasing (stopped outside fleetpatch, a release that failed) blocks
its wave until the lease expires, never longer. ``fleetpatch wave start`` checks the lease
first and names the run that holds it; ``wave stop`` releases the lease of the run it stops.

The ASL cannot import this module: tests/unit/test_wave_lease.py checks that its keys and
horizons are these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fleetpatch.contracts.keys import lease_key

# The gated-wave ASL's waits (AwaitBatch: MaxConcurrency; AwaitBatchCommand: TimeoutSeconds).
AWAIT_MAX_CONCURRENCY = 40
AWAIT_COMMAND_TIMEOUT_SECONDS = 29100
# What else a stretch between renewals may hold: a gate evaluation, a round's send and the
# run's reporting, each with every retry the ASL allows (5-minute functions, a few tries).
LEASE_MARGIN_SECONDS = 3 * 3600


def first_horizon(bake_minutes: int) -> int:
    """Seconds a lease taken at the run's start lasts: to its first send, after a bake."""
    return bake_minutes * 60 + LEASE_MARGIN_SECONDS


def renewal_horizon(commands: int, next_bake_minutes: int) -> int:
    """Seconds a lease renewed after a round's send lasts: the wait, then the next bake.

    The round's commands are awaited ``AWAIT_MAX_CONCURRENCY`` at a time, each up to its
    timeout; then comes the next round's send, or the next batch's bake and gate.
    """
    waits = math.ceil(commands / AWAIT_MAX_CONCURRENCY)
    return waits * AWAIT_COMMAND_TIMEOUT_SECONDS + next_bake_minutes * 60 + LEASE_MARGIN_SECONDS


@dataclass(frozen=True)
class WaveLease:
    wave: str
    run_id: str
    execution_arn: str
    taken_at: str
    expires_at: int


def read_lease(dynamodb: Any, table: str, wave: str) -> WaveLease | None:
    """The wave's lease as stored (expired or not), or None when no run holds it."""
    item = dynamodb.get_item(TableName=table, Key=lease_key(wave), ConsistentRead=True).get("Item")
    if not item:
        return None
    return WaveLease(
        wave=wave,
        run_id=item["run_id"]["S"],
        execution_arn=item["execution_arn"]["S"],
        taken_at=item["taken_at"]["S"],
        expires_at=int(item["expires_at"]["N"]),
    )


def release_lease(dynamodb: Any, table: str, lease: WaveLease) -> bool:
    """Delete ``lease`` if it is still the one stored (the same run, the same taking)."""
    try:
        dynamodb.delete_item(
            TableName=table,
            Key=lease_key(lease.wave),
            ConditionExpression="run_id = :run AND taken_at = :taken",
            ExpressionAttributeValues={
                ":run": {"S": lease.run_id},
                ":taken": {"S": lease.taken_at},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
