"""Once per key: powertools idempotency, persisted in the state table.

For a side effect with no key of its own in the service it touches (a Slack webhook POST
has none; a Step Functions run has its name, a DynamoDB write its condition), powertools
records the key before the effect and the result after it:

* pk ``IDEMPOTENCY#<function name>``, sk ``<what>#<hash of the key>``: one partition per
  function, so its role is granted exactly that partition (``dynamodb:LeadingKeys``), and
  the table's other items (``RUN#``, ``WAVE#``, ``COMMAND#``, ...) never meet these;
* ``expires_at``, the table's TTL attribute: DynamoDB removes a record once its window is
  over, and powertools ignores an expired one before then;
* a record is ``INPROGRESS`` while the effect runs and ``COMPLETED`` after; an effect that
  raises deletes it, so the retry Lambda makes tries the effect again. A duplicate that
  arrives while the first is still running fails with ``IdempotencyAlreadyInProgressError``
  (Lambda retries it later, when it finds the result); one that arrives after gets the
  stored result and repeats nothing.

Powertools reads the wall clock for expiry (not :mod:`fleetpatch.clock`): on the local
cloud, where simulated days pass in real seconds, a record outlives any simulated delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from fleetpatch.contracts import keys

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

PARTITION_PREFIX = keys.IDEMPOTENCY_PREFIX
EXPIRY_ATTRIBUTE = keys.TTL_ATTRIBUTE


def partition(function_name: str) -> str:
    """The partition key of ``function_name``'s idempotency records (its IAM LeadingKeys)."""
    return f"{PARTITION_PREFIX}{function_name}"


def once[T](
    effect: Callable[[T], dict[str, Any]],
    *,
    what: str,
    key: str,
    table_name: str,
    function_name: str,
    dynamodb: Any,
    lambda_context: Any,
    expires_after_seconds: int,
) -> Callable[[T], tuple[dict[str, Any], bool]]:
    """``effect(item)`` at most once per value of ``item``'s field ``key`` (while it lasts).

    Returns a function giving ``(result, repeated)``: ``repeated`` is True when the result
    is the one recorded by an earlier call (the effect did not run again).
    """
    repeated: list[bool] = []

    def recorded(response: Any, record: DataRecord) -> Any:
        repeated.append(True)
        return response

    config = IdempotencyConfig(
        event_key_jmespath=key,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_seconds,
        response_hook=recorded,
    )
    # The in-progress record expires with this invocation's remaining time: a retry after
    # a timeout (whose effect may or may not have happened) is not blocked for good.
    config.register_lambda_context(lambda_context)
    store = DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=partition(function_name),
        expiry_attr=EXPIRY_ATTRIBUTE,
        boto3_client=dynamodb,
    )

    @idempotent_function(
        data_keyword_argument="item", persistence_store=store, config=config, key_prefix=what
    )
    def run(item: T) -> dict[str, Any]:
        return effect(item)

    def call(item: T) -> tuple[dict[str, Any], bool]:
        repeated.clear()
        result = run(item=item)
        return result, bool(repeated)

    return call
