"""Who is calling: the principal of each AWS call made on the local cloud.

A principal is set for a thread of control by whoever starts it, as AWS would run it: the
Lambda runtime runs a handler as the function's execution role, the Step Functions
interpreter runs an execution's tasks as the state machine's role, the Scheduler runs a
target as the schedule's role, and EventBridge and SNS deliver as their service principal
on behalf of a rule or topic. It follows the work into the simulated clock's threads
(:class:`localcloud.core.clock.ClockThread` copies the context it was started from).

``None`` is "AWS itself": moto answering a request, the simulators (the fleet, Auto
Scaling, maintenance windows), and the harness (tests, the demo, the operator's CLI).
Those calls are not authorized.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A role session (``kind="role"``) or a service acting for a resource."""

    kind: str  # "role" | "service"
    arn: str  # the role's ARN, or the service principal (events.amazonaws.com)
    account: str
    session: str = "fleetpatch"
    # For a service principal: the resource it acts for (aws:SourceArn, aws:SourceAccount).
    source_arn: str | None = None
    org_id: str | None = None

    @classmethod
    def role(cls, arn: str, session: str = "fleetpatch", org_id: str | None = None) -> Principal:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise ValueError(f"not a role ARN: {arn!r}")
        return cls("role", arn, parts[4], session=session, org_id=org_id)

    @classmethod
    def service(cls, name: str, account: str, source_arn: str | None = None) -> Principal:
        return cls("service", name, account, source_arn=source_arn)

    @property
    def role_name(self) -> str:
        return self.arn.rsplit("/", 1)[-1] if self.kind == "role" else ""

    @property
    def caller_arn(self) -> str:
        """How AWS names the caller in an AccessDenied message."""
        if self.kind == "role":
            partition = self.arn.split(":")[1]
            return (
                f"arn:{partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session}"
            )
        return self.arn

    def __str__(self) -> str:
        return self.caller_arn


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "fleetpatch_iam_principal", default=None
)


def current() -> Principal | None:
    return _current.get()


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Make every AWS call in this block (and in threads it starts) as ``principal``."""
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)
