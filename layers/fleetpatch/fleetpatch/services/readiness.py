"""Readiness: a run waits for a condition without an event; one watcher resumes it.

await-ready (a ``lambda:invoke.waitForTaskToken`` task) registers the run's token and makes
sure a watcher runs; watch-ready (the readiness-watcher state machine's one task) polls for
every waiting run at once, for a round of a few minutes. ``fleetpatch.readiness`` owns the
waiters, the lease and the checks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fleetpatch import clock
from fleetpatch.contracts import names
from fleetpatch.readiness import (
    AGENT_ONLINE,
    SERVING_CHECK,
    AgentOnline,
    Checker,
    ServingCheck,
    Waiter,
    WaiterStore,
    Watcher,
)
from fleetpatch.services import ClientFactory, aws_client

LOG = logging.getLogger(__name__)


def await_ready(
    table_name: str,
    watcher_arn: str,
    waiter: Waiter,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Register ``waiter`` and start a watcher unless one runs. Returns what was done."""
    now = clock.time()
    store = WaiterStore(table_name, client("dynamodb"))
    # The waiter first, the lease second: a watcher giving its lease back looks for waiters
    # after it did, so one of the two sees the other.
    store.register(waiter, now)
    started = start_watcher(store, client("stepfunctions"), watcher_arn, now)
    return {"registered": True, "watcherStarted": started}


def start_watcher(store: WaiterStore, sfn: Any, watcher_arn: str, now: float) -> str | None:
    """Start a watcher if no live one holds the lease; its execution name, or None."""
    owner = names.watcher_run_name(clock.now(), uuid.uuid4().hex[:12])
    if not store.take_lease(owner, now):
        return None
    try:
        sfn.start_execution(
            stateMachineArn=watcher_arn, name=owner, input=json.dumps({"owner": owner})
        )
    except Exception:
        # Give the lease back so the next registration (this one, retried) starts one.
        store.release_lease(owner)
        raise
    LOG.info("started readiness watcher %s", owner)
    return owner


def watch(
    table_name: str,
    owner: str,
    round_seconds: float,
    *,
    poll_seconds: float,
    calls_per_second: float,
    serve_instance_function: str,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """One round of the watcher ``owner``: poll and resume until nothing waits or time is up."""
    sfn = client("stepfunctions")
    checkers: dict[str, Checker] = {
        AGENT_ONLINE: AgentOnline(client("ssm")),
        SERVING_CHECK: ServingCheck(client("lambda"), serve_instance_function, time=clock.time),
    }

    def resume(waiter: Waiter, output: Mapping[str, Any]) -> bool:
        try:
            sfn.send_task_success(
                taskToken=waiter.task_token,
                output=json.dumps({**output, "source": "watcher", "subject": waiter.subject}),
            )
        except (
            sfn.exceptions.TaskTimedOut,
            sfn.exceptions.InvalidToken,
            sfn.exceptions.TaskDoesNotExist,
        ) as exc:
            # The run stopped waiting (its own bound ran out, or it was stopped).
            LOG.info("run %s no longer waits: %s", waiter.run_id, exc)
            return False
        return True

    watcher = Watcher(
        store=WaiterStore(table_name, client("dynamodb")),
        checkers=checkers,
        resume=resume,
        owner=owner,
        time=clock.time,
        sleep=clock.sleep,
        poll_seconds=poll_seconds,
        calls_per_second=calls_per_second,
    )
    return watcher.run_round(round_seconds).as_output()
