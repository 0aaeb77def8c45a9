"""Use cases, one module per route: what a handler calls once it has parsed its event.

A service composes the domain's rules (policy, gates, reports) with the AWS adapters: it
takes the function's settings and the parsed request, gets its clients from ``client``
(``fleetpatch.aws.client`` unless a caller injects another), and returns the handler's
answer. It has no
Lambda imports; handlers are the edge (event and configuration), services the use case.

- ``launch``: patch-on-launch, resolve-instance, launch-outcome
- ``waves``: batch-gate (start a wave), evaluate-gate, patch-batch, record-promotion
- ``compliance``: compliance-change
- ``reports``: publish-report (runs and the compliance digest); ``slack``: notify-slack
- ``commands``: await-command, command-status
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetpatch import aws

# How a service gets a client for a service name.
ClientFactory = Callable[[str], Any]


def aws_client(service: str) -> Any:
    """``fleetpatch.aws.client``, looked up at each call (so a test may replace it)."""
    return aws.client(service)
