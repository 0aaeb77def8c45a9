"""Read a local-cloud scenario file (the model is localcloud.scenario.Scenario).

The file reading lives with the CLI, which owns the YAML loader that points at file, line
and field; the local cloud takes the validated model and never imports the CLI.
"""

from __future__ import annotations

from pathlib import Path

from fleetpatch_authoring.yamlfile import FileError, InvalidFileError, load_model
from localcloud.scenario import PutEventStep, Scenario


def load_scenario(path: Path) -> Scenario:
    """Load and validate a scenario; raises ``InvalidFileError`` naming file, line and field."""
    scenario = load_model(path, Scenario)
    base = path.resolve().parent
    missing = []
    for index, step in enumerate(scenario.steps):
        if not isinstance(step, PutEventStep):
            continue
        # Event files are relative to the working directory (as in the README), else to
        # the scenario file or its parent (the repository root for scenarios/).
        candidates = (
            [step.put_event.file]
            if step.put_event.file.is_absolute()
            else [root / step.put_event.file for root in (Path.cwd(), base, base.parent)]
        )
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(
                FileError(
                    str(path),
                    None,
                    f"steps.{index}.put_event.file",
                    f"no such file: {step.put_event.file}",
                )
            )
        else:
            object.__setattr__(step.put_event, "file", found)
    if missing:
        raise InvalidFileError(missing)
    return scenario
