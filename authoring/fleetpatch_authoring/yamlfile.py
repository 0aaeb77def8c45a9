"""Load YAML into pydantic models with errors that point at the file and line.

Operators edit the policy and scenario files by hand; an error must say where:
``policy/fleet.yaml:42: waves.0.batches.1.gate.max_failed: Input should be ...``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fleetpatch_authoring import wording


@dataclass(frozen=True)
class FileError:
    path: str
    line: int | None
    field: str
    message: str
    also: tuple[str, ...] = ()
    """The same problem's other fields: the node is shared through a YAML anchor."""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        # The field is one word: a key with a space (a mistyped `key* value`) is escaped too.
        field = self.field.replace(" ", "\\x20")
        shared = f" (the same YAML anchor at {', '.join(self.also)})" if self.also else ""
        return one_line(f"{where}: {field}: {self.message}{shared}")


def file_errors(
    path: Path, lines: _LineIndex, problems: Iterable[tuple[tuple[int | str, ...], str, str]]
) -> list[FileError]:
    """One error per ``(loc, field, message)``, except that a problem in a node a YAML anchor
    shares is one error (its other fields listed), not one per alias."""
    found: dict[tuple[object, ...], FileError] = {}
    for loc, field, message in problems:
        node, depth = lines.node_of(loc)
        key: tuple[object, ...] = (
            (id(node), tuple(loc[depth:]), message) if node is not None else (field, message)
        )
        earlier = found.get(key)
        if earlier is None:
            found[key] = FileError(str(path), lines.line_of(loc), field, message)
        elif field != earlier.field:
            found[key] = replace(earlier, also=(*earlier.also, field))
    return list(found.values())


def one_line(text: str) -> str:
    """``text`` with each unprintable character escaped as Python writes it in a string.

    One problem, one line: a key or value from the file may hold a control or line-breaking
    character (YAML allows some).
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class InvalidFileError(Exception):
    """A file failed to load or validate; ``errors`` has one entry per problem."""

    def __init__(self, errors: list[FileError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class _LineIndex:
    """Maps a pydantic error location to the line of the YAML node it names."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        node, _ = self.node_of(loc)
        return node.start_mark.line + 1 if node is not None else None

    def node_of(self, loc: tuple[int | str, ...]) -> tuple[yaml.Node | None, int]:
        """The deepest node on ``loc`` and how many parts of ``loc`` lead to it."""
        node = self._root
        for depth, part in enumerate(loc):
            child = self._child(node, part)
            if child is None:
                return node, depth
            node = child
        return node, len(loc)

    @staticmethod
    def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found: yaml.Node = value
                    return found
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child: yaml.Node = node.value[part]
            return child
        return None


def read_yaml(path: Path) -> tuple[Any, _LineIndex]:
    """Parse ``path``; syntax errors become :class:`InvalidFileError` with their line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidFileError(
            [FileError(str(path), None, "file", f"cannot read ({exc.strerror})")]
        ) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        position = getattr(exc, "position", None)  # a reader error: a character, no mark
        if line is None and isinstance(position, int):
            line = text.count("\n", 0, position) + 1
        # One line per problem: the reader's own text goes on with "in <unicode string>".
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidFileError([FileError(str(path), line, "yaml", str(problem))]) from exc
    except RecursionError as exc:
        # The YAML composer recurses per nesting level; no policy or scenario nests deeply.
        raise InvalidFileError(
            [FileError(str(path), None, "yaml", "nested too deeply to read")]
        ) from exc
    return data, _LineIndex(root)


def load_model[M: BaseModel](
    path: Path, model: type[M], *, context: dict[str, Any] | None = None
) -> M:
    """Read ``path`` and validate it as ``model``; every error names its file, line and field."""
    data, lines = read_yaml(path)
    try:
        return model.model_validate(data if data is not None else {}, context=context)
    except ValidationError as exc:
        problems = [
            (
                tuple(e["loc"]),
                ".".join(str(p) for p in e["loc"]) or "file",
                wording.message(e, tuple(e["loc"]), model),
            )
            for e in exc.errors(include_url=False)
        ]
        raise InvalidFileError(file_errors(path, lines, problems)) from exc
