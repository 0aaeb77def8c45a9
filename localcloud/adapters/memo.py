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
- moto lists a response class's methods (``inspect.getmembers`` over its whole ``dir()``) on
  every request, only to ask whether the action is one of them: 2 % of a serving wave's
  time. :class:`_MethodNames` answers that membership by one ``getattr``.
None changes an answer: the canaries in tests/unit/localcloud/test_moto_canaries_memo.py
check the internals these rely on.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterator
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
# Account ids and region names (in ARNs, URLs, resource names): whether a definition is
# valid does not depend on which, and an organization's clouds deploy the same definitions
# with their own (issue 22). Only the memo's key: moto validates the definition as given.
_ACCOUNT_OR_REGION = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])|\b[a-z]{2}(?:-[a-z]+)+-[0-9]\b")


def _validity_key(definition: str) -> str:
    return _ACCOUNT_OR_REGION.sub("~", definition)


def _validate_once(original: Any) -> Any:
    # moto's _validate_definition is a staticmethod: the replacement is one too.
    validate_original = original

    def validate(definition: str) -> None:
        key = _validity_key(definition)
        if key in _valid_definitions:
            return
        validate_original(definition)  # raises InvalidDefinition for a bad one
        _valid_definitions.add(key)

    return validate


class _MethodNames:
    """``action in method_names_from_class(cls)``, without listing every member of ``cls``.

    ``inspect.getmembers(cls, inspect.isfunction)`` names exactly the attributes of ``cls``
    that are plain functions (methods and static methods, looked up on the class).
    """

    def __init__(self, clazz: object) -> None:
        self._clazz = clazz

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self._clazz, name, None))

    def __iter__(self) -> Iterator[str]:
        from moto.core import utils

        return iter(utils.method_names_from_class(self._clazz))


def install() -> None:
    from moto.core import responses
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    motopatch.replace(responses, "method_names_from_class", _MethodNames, tag=TAG)

    motopatch.replace(botocore.session, "create_loader", _shared_loader, tag=TAG)
    if motopatch.patch(StepFunctionsParserBackend, "_validate_definition", _validate_once, tag=TAG):
        # patch() set the plain function; moto calls it on the class and on instances.
        replaced = StepFunctionsParserBackend.__dict__["_validate_definition"]
        StepFunctionsParserBackend._validate_definition = staticmethod(replaced)
