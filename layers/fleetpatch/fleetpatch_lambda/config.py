"""Per-function configuration: a pydantic model read from the environment once, at the edge.

Each field's alias is the environment variable it comes from. A missing or invalid
variable raises ``ConfigurationError`` naming the variable: no silent defaults for what
the template must provide.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from fleetpatch.errors import ConfigurationError


class FunctionConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


def load_config[C: FunctionConfig](model: type[C]) -> C:
    """Validate the environment as ``model`` (cheap; done per invocation, never stale)."""
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid function configuration: {problems}") from exc


def resolved[M: type[BaseModel]](model: M, **types: Any) -> M:
    """``model``, completed with ``types`` (annotation name -> type): domain types its
    annotations name that the handler imports only for type checking (``if TYPE_CHECKING:``)
    and, at run time, in the handler: their modules stay out of the cold start (issue 19).

    The model must defer its build (``defer_build=True``); once complete, this is a no-op.
    """
    if not model.__pydantic_complete__:
        model.model_rebuild(_types_namespace=types)
    return model
