"""A handler model whose domain types are imported only for type checking (issue 19).

``fleetpatch_lambda.config.resolved`` completes it with the types the handler imports when it
runs; without it, the model cannot validate (its annotation names a type it cannot see).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fleetpatch_lambda.config import resolved
from pydantic import BaseModel, ConfigDict, PydanticUserError

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeBatch


def request_model() -> type[BaseModel]:
    # A fresh class per test: a completed model stays complete.
    class PatchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", defer_build=True)
        batch: RuntimeBatch

    return PatchRequest


BATCH = {
    "name": "linux-web",
    "patchGroups": ["web"],
    "maxConcurrency": "10%",
    "maxErrors": "0",
    "operation": "Install",
    "rebootOption": "RebootIfNeeded",
}


def test_a_model_naming_a_type_it_cannot_see_does_not_validate() -> None:
    # Given a handler model whose RuntimeBatch is imported for type checking only
    model = request_model()
    # Then it cannot validate as it stands (the check below is not vacuous)
    with pytest.raises(PydanticUserError, match="not fully defined"):
        model.model_validate({"batch": BATCH})


def test_resolved_completes_it_with_the_types_imported_at_run_time() -> None:
    from fleetpatch.batch_policy import RuntimeBatch

    # Given the same model, completed with the type the handler imports when it runs
    model = resolved(request_model(), RuntimeBatch=RuntimeBatch)
    # Then it validates into the domain type, and completing it again changes nothing
    assert model.__pydantic_complete__
    assert resolved(model, RuntimeBatch=RuntimeBatch) is model
    assert isinstance(model.model_validate({"batch": BATCH}).batch, RuntimeBatch)
    with pytest.raises(ValueError, match="batch"):
        model.model_validate({"batch": {"nonsense": 1}})
