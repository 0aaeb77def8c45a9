"""What every SSM operation the local cloud serves shares: the running fleet, errors,
pages and parameter checks (see localcloud.adapters.ssm).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

from localcloud.sim.fleet import FLEET, FleetSimulator
from localcloud.sim.instances import ApiError
from localcloud.sim.run_command import (
    Invocation,
)

if TYPE_CHECKING:
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).


class SsmApiError(ServiceException):
    """An SSM error code and message, rendered by moto as AWS renders it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def active_fleet() -> FleetSimulator | None:
    """The running cloud's fleet, if it has one (else moto answers as it would)."""
    return FLEET.get()


def require_fleet(operation: str) -> FleetSimulator:
    fleet = active_fleet()
    if fleet is None:
        raise NotImplementedError(f"{operation} needs the fleet simulator (localcloud.sim.fleet)")
    return fleet


@functools.cache
def operation_names() -> frozenset[str]:
    """SSM's API operation names (what ``fleet.throttle(api=...)`` accepts)."""
    from moto.core.utils import get_service_model

    return frozenset(get_service_model("ssm").operation_names)


def api(
    method: Callable[[SimpleSystemManagerResponse], ActionResult],
) -> Callable[[SimpleSystemManagerResponse], ActionResult]:
    """Read the fleet under its lock; turn its ApiError into the AWS error response."""

    @functools.wraps(method)
    def handler(self: SimpleSystemManagerResponse) -> ActionResult:
        fleet = active_fleet()
        try:
            with fleet.lock if fleet is not None else contextlib.nullcontext():
                return method(self)
        except ApiError as exc:
            raise SsmApiError(exc.code, exc.message) from exc

    return handler


def ssm_backend(self: SimpleSystemManagerResponse) -> SimpleSystemManagerBackend:
    from moto.ssm.models import ssm_backends

    return ssm_backends[self.current_account][self.region]


def paginate[T](
    self: SimpleSystemManagerResponse, items: Sequence[T], maximum: int
) -> tuple[list[T], dict[str, str]]:
    """One page of ``items`` and the NextToken entry for the response, if more follow."""
    token = self._get_param("NextToken")
    size = int(self._get_param("MaxResults") or maximum)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise SsmApiError("InvalidNextToken", "The specified token isn't valid.") from None
    end = start + size
    return list(items[start:end]), ({"NextToken": str(end)} if end < len(items) else {})


def validation_error(field: str, value: Any, constraint: str) -> SsmApiError:
    return SsmApiError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
    )


def compare_value(value: str | int | None, wanted: Sequence[str], operator: str) -> bool:
    """ComplianceStringFilter/InstancePatchStateFilter comparison (case-insensitive names)."""
    if value is None:
        return False
    op = operator.upper().replace("_", "")
    if op in {"LESSTHAN", "GREATERTHAN"}:
        numeric = isinstance(value, int)
        bound: Any = int(wanted[0]) if numeric else wanted[0]
        return bool(value < bound) if op == "LESSTHAN" else bool(value > bound)
    text = str(value)
    if op == "NOTEQUAL":
        return text not in wanted
    if op == "BEGINWITH":
        return any(text.startswith(w) for w in wanted)
    return text in wanted


def elapsed_text(invocation: Invocation) -> str:
    """ISO 8601 duration as GetCommandInvocation shows it (PT1H0.271S)."""
    if invocation.started is None or invocation.ended is None:
        return ""
    seconds = (invocation.ended - invocation.started).total_seconds()
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    text = "PT" + (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    return text + f"{rest:.3f}S"
