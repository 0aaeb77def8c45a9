"""Per-function configuration: a pydantic model read from the environment once, at the edge.

Each field's alias is the environment variable it comes from. A missing or invalid
variable raises ``ConfigurationError`` naming the variable: no silent defaults for what
the template must provide. Each function's model lives in ``fleetpatch_lambda.inputs``, which
its handler imports when it runs (no pydantic at a handler's import: cold start, issue 19).
"""

from __future__ import annotations

import os

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
