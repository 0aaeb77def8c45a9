"""The running local cloud's parts, in one registry instead of a global per module.

moto's backends are process-wide, so one LocalCloud runs per process at a time. The methods
the adapters patch into moto are process-wide too: while a cloud runs they reach its parts
(the fleet, the window runner, the Lambda runtime, the fault injector, ...) through the
slots here, which the composition root (``localcloud.cloud.LocalCloud``) and the adapters'
``install`` functions fill, and which are all emptied when the cloud stops. A patched method
that finds its slot empty behaves as plain moto.

Each part's owner declares its slot next to its type (``FLEET: Slot[FleetSimulator] =
Slot("fleet")``), so the registry knows no type above the core.
"""

from __future__ import annotations

import threading
from typing import Any, cast

_lock = threading.RLock()
# The one piece of process-wide mutable state: slot name -> part of the running cloud.
_parts: dict[str, Any] = {}


class Slot[T]:
    """A named part of the running cloud: empty when no cloud runs, or it has no such part."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self) -> T | None:
        return cast("T | None", _parts.get(self.name))

    def set(self, value: T | None) -> None:
        with _lock:
            if value is None:
                _parts.pop(self.name, None)
            else:
                _parts[self.name] = value

    def require(self, why: str) -> T:
        """The part, or NotImplementedError saying what needs it (as moto answers the unknown)."""
        value = self.get()
        if value is None:
            raise NotImplementedError(why)
        return value

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


_CLOUD = "cloud"


def start(cloud: object) -> None:
    """Register ``cloud`` as the one running in this process (refused if one already runs)."""
    with _lock:
        if _CLOUD in _parts:
            raise RuntimeError("a LocalCloud is already running in this process")
        _parts.clear()
        _parts[_CLOUD] = cloud


def stop(cloud: object) -> None:
    """Empty every slot, if ``cloud`` is the one running."""
    with _lock:
        if _parts.get(_CLOUD) is cloud:
            _parts.clear()


def running() -> object:
    """The running LocalCloud (typed ``object``: the core knows nothing above it)."""
    cloud = _parts.get(_CLOUD)
    if cloud is None:
        raise RuntimeError("no LocalCloud is running")
    return cloud


def suspend(cloud: object) -> dict[str, Any]:
    """Take ``cloud``'s parts out of the process (another cloud of an organization runs next).

    :func:`resume` puts them back as they were: a suspended cloud keeps its simulators.
    """
    with _lock:
        if _parts.get(_CLOUD) is not cloud:
            raise RuntimeError("only the running LocalCloud can be suspended")
        parts = dict(_parts)
        _parts.clear()
        return parts


def resume(cloud: object, parts: dict[str, Any]) -> None:
    """Make ``cloud`` the running one again, with the parts :func:`suspend` took."""
    with _lock:
        if _CLOUD in _parts:
            raise RuntimeError("a LocalCloud is already running in this process")
        if parts.get(_CLOUD) is not cloud:
            raise RuntimeError("these parts are another cloud's")
        _parts.update(parts)
