"""A test handler that returns a JSON string of ``event["size"]`` bytes (quotes included)."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: Any, context: Any) -> str:
    return "x" * (int(event["size"]) - 2)
