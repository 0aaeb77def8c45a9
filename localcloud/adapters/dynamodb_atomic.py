"""DynamoDB requests on the local cloud: each one step, as DynamoDB answers them.

DynamoDB applies every single-item write (PutItem, UpdateItem, DeleteItem, with or without a
condition) and every transaction atomically: a reader sees the item before the write or after
it, never between. moto 5.2.5 does not: an UpdateItem on an item that does not exist stores
the bare key first (``table.put_item`` of the key attributes) and then executes the update
expression on it in place, attribute by attribute; a condition is checked before the write,
in another step; and a response is serialised from the live item after the backend
returned. The local cloud runs concurrent work (Step Functions executions, Lambda
invocations, the operator's CLI) on threads, so a GetItem could read a wave lease that had
its key and nothing else (``fleetpatch.lease.read_lease``: ``KeyError: 'run_id'``), which
DynamoDB never shows. Here one lock covers each DynamoDB request, from its check to its
serialised answer.

moto internal touched (canary in tests/unit/localcloud/test_moto_canaries_dynamodb.py):
``moto.dynamodb.responses.DynamoHandler.call_action`` (every DynamoDB action, dispatch and
serialisation), wrapped.
"""

from __future__ import annotations

import threading

from localcloud.core import motopatch

TAG = "_fleetpatch_dynamodb_atomic"
# One lock for every table: in-process, a DynamoDB call is short and the GIL serialises the
# work anyway. Re-entrant, should moto ever answer one request with another.
_LOCK = threading.RLock()


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    motopatch.patch(DynamoHandler, "call_action", motopatch.holding(_LOCK), tag=TAG, wraps=True)
