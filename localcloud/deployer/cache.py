"""The deploy's pure steps, kept per process by content: each deploy gets its own copy.

Workflow tests deploy the same ``template.yaml`` into a fresh cloud for every test. Parsing
its YAML and running the SAM transform are pure functions of the template's bytes, the given
parameters and the pseudo parameters, and took about a fifth of each deploy; everything that
reads or changes a cloud (SSM-backed parameter values, packaging's checks that each artifact
exists, every resource) still runs on every deploy. Each caller gets a deep copy, so no
stack shares a mutable structure with another stack or with the cache.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

from localcloud.intrinsics import PseudoParameters, load_template

# Distinct templates a process deploys repeatedly are few (the real one and its nested
# stack); tests that write one-off templates must not grow the cache without bound.
MAX_ENTRIES = 16


class _Bounded:
    """A map that forgets its oldest entry beyond ``MAX_ENTRIES``; values are handed out copied."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, dict[str, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key not in self._entries:
            value = compute()
            while len(self._entries) >= MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = copy.deepcopy(value)
            return value
        return copy.deepcopy(self._entries[key])

    def clear(self) -> None:
        self._entries.clear()


_PARSED = _Bounded()
_TRANSFORMED = _Bounded()


def parsed_template(path: Path) -> tuple[dict[str, Any], str]:
    """The template at ``path`` as :func:`load_template` reads it, and its content digest."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        load_template(path)  # raises the TemplateError naming the path and the cause
        raise
    return _PARSED.get((path, digest), lambda: load_template(path)), digest


def transformed_template(
    digest: str,
    parameters: Mapping[str, str],
    pseudo: PseudoParameters,
    transform: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """``transform()`` (the SAM transform of the packaged template whose source has ``digest``).

    Packaging writes placeholders relative to the template's directory, so the packaged
    template, and the transform's result, depend only on the source's bytes, the parameters
    and the pseudo parameters: the key.
    """
    key = (digest, tuple(sorted(parameters.items())), pseudo)
    return _TRANSFORMED.get(key, transform)


def clear() -> None:
    """Forget every cached template (for measuring a deploy from cold)."""
    _PARSED.clear()
    _TRANSFORMED.clear()
