"""The one way the local cloud replaces a method of moto's (or botocore's) classes.

Every adapter changes moto by replacing methods of its classes, process-wide and once per
process: the replacement carries a tag (``_fleetpatch`` plus the adapter's own), so a second
``install`` sees it and leaves it alone, and its ``_fleetpatch_original`` is the method it
replaced (for the adapters that call moto's answer, and the canary tests that compare with it).

A replacement that wraps a method another adapter already replaced keeps that adapter's tags
and original (``wraps=True``, ``functools.wraps`` copies them), so the other adapter's second
install still recognises its own work underneath.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

MARK = "_fleetpatch"
ORIGINAL = "_fleetpatch_original"

Method = Callable[..., Any]


def patch(
    owner: Any, name: str, make: Callable[[Any], Method], *, tag: str = MARK, wraps: bool = False
) -> bool:
    """Replace ``owner.name`` by ``make(current)`` unless a replacement tagged ``tag`` is there.

    Returns whether it replaced the method (False: already patched by the same adapter).
    """
    current = getattr(owner, name, None)
    if is_patched(current, tag):
        return False
    replacement = make(current)
    if wraps:
        replacement = functools.wraps(current)(replacement)  # type: ignore[arg-type]
    if not hasattr(replacement, ORIGINAL):
        setattr(replacement, ORIGINAL, current)
    setattr(replacement, MARK, True)
    setattr(replacement, tag, True)
    setattr(owner, name, replacement)
    return True


def holding(lock: Any) -> Callable[[Method], Method]:
    """A ``make`` for :func:`patch`: moto's method, run while holding ``lock`` (so what moto
    does in several steps, a check and a write, is one step to every other thread)."""

    def make(original: Method) -> Method:
        def locked(self: Any) -> Any:
            with lock:
                return original(self)

        return locked

    return make


def replace(owner: Any, name: str, replacement: Method, *, tag: str = MARK) -> bool:
    """Replace ``owner.name`` by ``replacement`` (which does not need the current method)."""
    return patch(owner, name, lambda _current: replacement, tag=tag)


def is_patched(function: Any, tag: str = MARK) -> bool:
    return bool(getattr(function, tag, False))


def original(owner: Any, name: str) -> Method:
    """The method the replacement of ``owner.name`` replaced (moto's own)."""
    found: Method = getattr(getattr(owner, name), ORIGINAL)
    return found


# Patches applied once per process that are not one method's replacement (a module's names
# rebound, a hook registered): their keys. moto's classes are process-wide, so is this.
_applied: set[str] = set()


def first_time(key: str) -> bool:
    """True the first time ``key`` is asked for in this process (then apply the patch)."""
    if key in _applied:
        return False
    _applied.add(key)
    return True
