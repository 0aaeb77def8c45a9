"""Step Functions on the local cloud: each state machine definition is parsed once.

Installed by :func:`localcloud.adapters.stepfunctions.install`.
"""

from __future__ import annotations

import functools
import pickle
from typing import Any

from localcloud.core import motopatch


def install() -> None:
    """Each execution starts from a copy of its definition's program, parsed once.

    moto's interpreter parses the state machine's ASL (an ANTLR grammar, in Python) at every
    StartExecution: 1.05 s of CPU for the launch workflow (measured on the 2-core build
    machine), at every launch of a scale-out. The program tree is plain data; each execution
    gets its own unpickled copy (15 ms), so no evaluation shares a component with another,
    as when each parsed its own.
    """
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_entrypoint
    if motopatch.is_patched(original):
        return

    def entrypoint(self: Any) -> Any:
        pickled = parsed_program(self._evaluation_details.state_machine_details.definition)
        if pickled is None:
            return original(self)
        return pickle.loads(pickled)  # noqa: S301 (bytes this module pickled)

    motopatch.replace(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)


@functools.lru_cache(maxsize=256)
def parsed_program(definition: str) -> bytes | None:
    """The parsed program of ``definition``, pickled (None: it does not pickle; parse each time)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(definition)
    try:
        return pickle.dumps(program)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
