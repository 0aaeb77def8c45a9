"""A test handler that returns its event and the environment it ran with."""

from __future__ import annotations

import os
from typing import Any


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    print("echo handler ran")
    return {
        "event": event,
        "greeting": os.environ.get("GREETING"),
        "request": context.aws_request_id,
    }
