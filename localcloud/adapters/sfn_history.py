"""GetExecutionHistory as Step Functions answers it: pages, order, and execution data.

moto 5 answers every event in one page, oldest first, whatever the request asks. AWS
(API reference, GetExecutionHistory): ``maxResults`` is at most 1000, 0 or absent means
100, and a page holds at most that many events, with a ``nextToken`` while more are left;
``reverseOrder`` lists the newest first; ``includeExecutionData`` false leaves out each
event's input and output; a token that is not one the call gave back is an HTTP 400
``InvalidToken``. A caller that reads one page of a long history sees only its first 100
events on AWS, and so it does here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from localcloud.core import motopatch

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_DATA_KEYS = ("input", "output", "inputDetails", "outputDetails")


def _token(execution_arn: str, offset: int, reverse: bool) -> str:
    raw = json.dumps({"arn": execution_arn, "offset": offset, "reverse": reverse})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _offset(token: str, execution_arn: str, reverse: bool) -> int:
    from moto.stepfunctions.exceptions import InvalidToken

    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("the token is not one this call gave back") from error
    if data.get("arn") != execution_arn or bool(data.get("reverse")) != reverse or offset < 0:
        raise InvalidToken("the token belongs to another execution or order")
    return offset


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    trimmed = dict(event)
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            trimmed[key] = {k: v for k, v in value.items() if k not in _DATA_KEYS}
    return trimmed


def page(
    events: list[dict[str, Any]],
    execution_arn: str,
    *,
    max_results: int | None,
    next_token: str | None,
    reverse: bool,
    include_data: bool,
) -> dict[str, Any]:
    """One page of ``events`` (oldest first), as AWS gives it."""
    from moto.stepfunctions.exceptions import ValidationException

    size = int(max_results or 0)
    if size < 0 or size > MAX_PAGE:
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_PAGE}"
        )
    size = size or DEFAULT_PAGE
    ordered = list(reversed(events)) if reverse else list(events)
    start = _offset(next_token, execution_arn, reverse) if next_token else 0
    chosen = ordered[start : start + size]
    if not include_data:
        chosen = [_without_data(event) for event in chosen]
    answer: dict[str, Any] = {"events": chosen}
    if start + size < len(ordered):
        answer["nextToken"] = _token(execution_arn, start + size, reverse)
    return answer


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def get_execution_history(self: Any) -> Any:
        execution_arn = self._get_param("executionArn")
        history = self.stepfunction_backend.get_execution_history(execution_arn)
        events = list(history.get("events", []) if isinstance(history, dict) else history.events)
        return ActionResult(
            page(
                events,
                execution_arn,
                max_results=self._get_param("maxResults"),
                next_token=self._get_param("nextToken"),
                reverse=_flag(self._get_param("reverseOrder"), False),
                include_data=_flag(self._get_param("includeExecutionData"), True),
            )
        )

    motopatch.replace(StepFunctionResponse, "get_execution_history", get_execution_history)
