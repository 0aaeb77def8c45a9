"""What a simulator may use of the cloud it runs in (``localcloud.cloud.LocalCloud`` has it).

The simulators are typed against these protocols, not against ``LocalCloud``: they sit below
the composition root and must not import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from localcloud.core.clock import SimClock
from localcloud.core.iam.principal import Principal


class LambdaResult(Protocol):
    """One finished invocation (``localcloud.adapters.awslambda.Invocation``)."""

    @property
    def error_type(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...


class Lambdas(Protocol):
    """The Lambda runtime: runs the deployed functions' handlers in process."""

    @property
    def functions(self) -> Mapping[str, Any]: ...

    def invoke(self, function_name: str, event: Any) -> LambdaResult: ...

    def invoke_async(self, function_name: str, event: Any) -> None: ...


class Iam(Protocol):
    """The IAM enforcer: the principals services act as, and what they may do."""

    def assume(
        self, role_arn: str, service: str, *, source_arn: str | None = None
    ) -> Principal: ...

    def require(
        self, principal: Principal | None, service: str, operation: str, params: Mapping[str, Any]
    ) -> None: ...


class Cloud(Protocol):
    """One simulated account and region: its clock, its clients and its event bus."""

    @property
    def region(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def clock(self) -> SimClock: ...
    @property
    def lambdas(self) -> Lambdas: ...
    @property
    def iam(self) -> Iam: ...

    def client(self, service: str) -> Any: ...

    def emit(
        self,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str] | None = None,
    ) -> str: ...

    def put_object(self, bucket: str, key: str, body: bytes) -> None: ...

    def settle(self, *, max_seconds: float | None = None) -> None: ...
