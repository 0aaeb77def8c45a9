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
Profiled over a 1,000-instance wave (py-spy, every thread), a third:
- moto lists a response class's methods (``inspect.getmembers`` over the class and its
  bases) on every request, to see whether the action is one (``BaseResponse.call_action``):
  2 % of the wave. The list is kept per class and made again when a class in its MRO gains
  or loses an attribute (the local cloud adds actions moto lacks, e.g.
  ``CloudWatchResponse.put_composite_alarm``).
None changes an answer: the canaries in tests/unit/localcloud/test_moto_canaries_memo.py
check the internals these rely on.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session

from localcloud.core import motopatch

TAG = "_fleetpatch_memo"

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


def _validate_once(original: Any) -> Any:
    # moto's _validate_definition is a staticmethod: the replacement is one too.
    validate_original = original

    def validate(definition: str) -> None:
        if definition in _valid_definitions:
            return
        validate_original(definition)  # raises InvalidDefinition for a bad one
        _valid_definitions.add(definition)

    return validate


_method_names: dict[type, tuple[tuple[int, ...], list[str]]] = {}


def _shape(clazz: type) -> tuple[int, ...]:
    return tuple(len(vars(c)) for c in clazz.__mro__)


def _method_names_once(original: Any) -> Any:
    def method_names_from_class(clazz: Any) -> list[str]:
        shape = _shape(clazz)
        known = _method_names.get(clazz)
        if known is None or known[0] != shape:
            known = _method_names[clazz] = (shape, original(clazz))
        return list(known[1])

    return method_names_from_class


def install() -> None:
    import moto.core.responses
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # moto.core.responses imported the function by name: its module's name is the one called.
    motopatch.patch(moto.core.responses, "method_names_from_class", _method_names_once, tag=TAG)

    motopatch.replace(botocore.session, "create_loader", _shared_loader, tag=TAG)
    if motopatch.patch(StepFunctionsParserBackend, "_validate_definition", _validate_once, tag=TAG):
        # patch() set the plain function; moto calls it on the class and on instances.
        replaced = StepFunctionsParserBackend.__dict__["_validate_definition"]
        StepFunctionsParserBackend._validate_definition = staticmethod(replaced)
