"""Canaries for the interpreter internals the local cloud's parse-once cache uses.

localcloud/adapters/stepfunctions.py replaces ``ExecutionWorker._get_evaluation_entrypoint``
(moto 5.2.5 parses the definition there, at every StartExecution) with an unpickled copy
of a program parsed once per definition. If moto parses elsewhere, or the program stops
pickling, executions still run but each parses again: these fail first.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend import execution_worker

from localcloud.adapters import sfn_programs, stepfunctions

LAUNCH = Path(__file__).parents[3] / "statemachines" / "patch_new_instance.asl.json"


def test_moto_parses_the_definition_in_the_entrypoint_hook() -> None:
    source = inspect.getsource(execution_worker.ExecutionWorker)
    assert "AmazonStateLanguageParser.parse(" in source
    logic = inspect.getsource(execution_worker.ExecutionWorker._execution_logic)
    assert "self._get_evaluation_entrypoint()" in logic


def test_a_parsed_program_pickles_and_each_copy_is_its_own() -> None:
    program, _ = AmazonStateLanguageParser.parse(LAUNCH.read_text())
    pickled = pickle.dumps(program)
    first, second = pickle.loads(pickled), pickle.loads(pickled)
    assert type(first) is type(program)
    assert first is not second
    assert first.states is not second.states


def test_the_cache_parses_a_definition_once() -> None:
    stepfunctions.install()
    definition = LAUNCH.read_text()
    sfn_programs.parsed_program.cache_clear()
    assert sfn_programs.parsed_program(definition) is not None
    sfn_programs.parsed_program(definition)
    assert sfn_programs.parsed_program.cache_info().hits == 1
