"""Named domain errors.

Step Functions matches ``Retry``/``Catch`` on the error name, which for a Lambda task is
the exception's class name: keep these names stable, ASL files refer to them.
"""

from __future__ import annotations


class FleetpatchError(Exception):
    """Base of every error fleetpatch raises on purpose."""


class InvalidEventError(FleetpatchError):
    """An incoming event failed validation; ``field`` names the first offending field."""

    def __init__(self, field: str, message: str, *, source_name: str | None = None) -> None:
        self.field = field
        self.message = message
        self.source_name = source_name
        where = f"{source_name}: " if source_name else ""
        super().__init__(f"{where}{field}: {message}")


class MisroutedEventError(FleetpatchError):
    """A valid event reached a handler that does not own its route (a rule is misconfigured)."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"event routed to {actual!r} reached the {expected!r} handler")


class ConfigurationError(FleetpatchError):
    """A function's configuration (environment) is missing or invalid."""


class InstanceNotFoundError(FleetpatchError):
    """The instance does not exist (any more): it may have been terminated."""


class ConflictingPatchGroupTagsError(FleetpatchError):
    """The instance carries both patch group tag keys with different values."""


class UnsupportedPlatformError(FleetpatchError):
    """The instance's platform maps to no operating system Patch Manager patches."""


class AwsThrottledError(FleetpatchError):
    """AWS throttled a call; ASL retries this name with jittered backoff."""


class ComplianceWriteConflictError(FleetpatchError):
    """A compliance record kept changing under our conditional writes; Lambda retries."""


class ChurnConflictError(FleetpatchError):
    """A group's launch-churn record kept changing under our conditional writes; retried."""


class BudgetExhaustedError(FleetpatchError):
    """A disruption budget scope has as many instances out of service as it allows.

    serve-instance raises it before draining; the serving workflow waits and asks again,
    up to the batch's budget wait.
    """


class ServingStateError(FleetpatchError):
    """An instance is not where the serving workflow expects it (not InService, not found)."""
