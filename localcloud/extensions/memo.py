"""Work the local cloud repeats with the same answer, done once per process.

Profiled over the workflow suite (py-spy, every thread), two costs came from doing the
same work again for every test's fresh cloud, not from simulating anything:
- botocore reads a service's JSON model (EC2's is megabytes) once per session, and each
  cloud, the IAM enforcer and the handlers' default session are new sessions: 13 % of the
  suite's time. All sessions now share one botocore data loader: the models are read-only
  data, as they already are for every client of one session.
- moto validates a state machine's definition by parsing it with its ANTLR grammar on every
  CreateStateMachine: each deploy parses the same two definitions again, 10 % of the suite.
  A definition that parsed once is valid; an invalid one is still parsed, and refused, every
  time.
Neither changes an answer: the canaries in tests/unit/localcloud/test_moto_canaries_memo.py
check the internals these rely on.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session

_original_create_loader = botocore.loaders.create_loader


class _SearchPaths(list[str]):
    """A loader's search paths that a second boto3 Session does not append to again."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    loader = _original_create_loader(search_path_string)
    loader._search_paths = _SearchPaths(loader.search_paths)  # type: ignore[attr-defined]
    return loader


_valid_definitions: set[str] = set()


def _install_definition_memo() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.__dict__["_validate_definition"].__func__
    if getattr(original, "_fleetpatch", False):
        return

    def validate(definition: str) -> None:
        if definition in _valid_definitions:
            return
        original(definition)  # raises InvalidDefinition for a bad one
        _valid_definitions.add(definition)

    validate._fleetpatch = True  # type: ignore[attr-defined]
    validate.__wrapped__ = original  # type: ignore[attr-defined]
    StepFunctionsParserBackend._validate_definition = staticmethod(validate)


def install() -> None:
    if botocore.session.create_loader is not _shared_loader:
        botocore.session.create_loader = _shared_loader
    _install_definition_memo()


def installed() -> dict[str, Any]:
    """What is memoized (for the canaries)."""
    return {"loader": botocore.session.create_loader, "definitions": len(_valid_definitions)}
