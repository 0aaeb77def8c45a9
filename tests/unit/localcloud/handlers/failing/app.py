"""A test handler that fails with a named error the first N times it is called."""

from __future__ import annotations

import os
from typing import Any


class PatchLockBusyError(Exception):
    """Named like a domain error so ASL Retry/Catch can match it."""


CALLS = {"count": 0}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    CALLS["count"] += 1
    if CALLS["count"] <= int(os.environ["FAIL_TIMES"]):
        raise PatchLockBusyError(f"attempt {CALLS['count']} failed")
    return {"attempts": CALLS["count"], "function": context.function_name}
