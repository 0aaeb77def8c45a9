"""What the simulated fleet can install, and how a patch baseline judges it (pure code).

The catalogue is deterministic: each operating system has a fixed list of package updates
(Linux) or KBs (Windows) whose release dates are offsets from a *reference* time, normally
the start of the simulation. So "released 11 days ago" stays true whatever date a scenario
starts on, and an approval delay of 0 days approves a different set than 14 days.
Patches released after ``now`` are not available yet (a long scenario sees new ones
appear). A fleet image is dated ``IMAGE_AGE`` before the reference: an instance launched
from it has every patch released before that date installed and the rest missing.

Baselines follow Patch Manager's rules (see :func:`assess`), as far as this catalogue can
express them:

* a patch is considered only if it matches every global filter;
* it is approved by the first approval rule whose filters all match, once
  ``release + ApproveAfterDays <= now`` (or its release date is on or before
  ``ApproveUntilDate``, a UTC day). Ubuntu has no approval delay: matching is enough;
* on Linux a rule approves non-security updates only if it enables non-security updates
  or names the patch's classification explicitly (AWS's default Amazon Linux 2 baseline
  approves ``Bugfix`` that way);
* ``ApprovedPatches`` approve by name (non-security ones on Linux only with
  ``ApprovedPatchesEnableNonSecurity``); ``RejectedPatches`` override every approval.
  Patterns match a Linux patch by ``name``, ``name.arch``, full title, advisory or CVE id
  (``*`` wildcards, as in ``system-release.*``), a Windows patch by KB id or title;
* rejected patches are never installed (dependencies are not modelled, so
  ``ALLOW_AS_DEPENDENCY`` never pulls one in). An installed rejected patch is
  INSTALLED_REJECTED (non-compliant) under ``BLOCK`` and INSTALLED_OTHER otherwise.

Filter values may use ``*`` wildcards (AWS accepts only a lone ``*``; more is harmless).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import yaml

from localcloud.sim.baselines import (
    Baseline,
)
from localcloud.sim.patch_catalogue import (
    NON_COMPLIANT_STATES,
    Patch,
    PatchState,
)

# --- assessing an instance ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatchStatus:
    """One patch's state on one instance relative to its baseline."""

    patch: Patch
    state: PatchState
    compliance_level: str
    installed_time: datetime | None

    @property
    def compliant(self) -> bool:
        return self.state not in NON_COMPLIANT_STATES


def assess(
    baseline: Baseline,
    patches: Iterable[Patch],
    *,
    installed: Mapping[str, datetime],
    pending_reboot: frozenset[str],
    failed: frozenset[str],
    now: datetime,
) -> tuple[PatchStatus, ...]:
    """Each reportable patch's state: approved ones always, others only when installed.

    ``installed`` maps KB ids to install times; ``pending_reboot`` and ``failed`` are KB
    ids whose last installation awaits a reboot or failed.
    """
    statuses = []
    for patch in patches:
        level = baseline.approval(patch, now)
        when = installed.get(patch.kb_id)
        state: PatchState
        if when is not None:
            if patch.kb_id in pending_reboot:
                state = "INSTALLED_PENDING_REBOOT"
            elif level is not None:
                state = "INSTALLED"
            elif baseline.rejects(patch) and baseline.rejected_action == "BLOCK":
                state = "INSTALLED_REJECTED"
            else:
                state = "INSTALLED_OTHER"
        elif level is None:
            continue
        else:
            state = "FAILED" if patch.kb_id in failed else "MISSING"
        statuses.append(PatchStatus(patch, state, level or "UNSPECIFIED", when))
    return tuple(statuses)


def to_install(
    baseline: Baseline, patches: Iterable[Patch], installed: Mapping[str, datetime], now: datetime
) -> tuple[Patch, ...]:
    """What an Install operation installs: approved patches not installed yet."""
    return tuple(
        p for p in patches if p.kb_id not in installed and baseline.approval(p, now) is not None
    )


# --- InstallOverrideList ------------------------------------------------------------------------


class InvalidOverrideListError(ValueError):
    """The InstallOverrideList file is not the YAML Patch Manager expects."""


@dataclass(frozen=True)
class OverrideEntry:
    """One ``patches`` entry: ``id`` (KB id or name.arch, ``*`` allowed), optional ``title``."""

    id: str
    title: str | None = None

    def matches(self, patch: Patch) -> bool:
        if not fnmatch.fnmatchcase(patch.kb_id, self.id):
            return False
        if self.title is None:
            return True
        version = patch.title.split(":", 2)[-1]
        return any(fnmatch.fnmatchcase(t, self.title) for t in (patch.title, version))


def parse_override_list(text: str) -> tuple[OverrideEntry, ...]:
    """Parse ``patches: [{id: ..., title: ...}, ...]``; other keys are ignored, as by AWS."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidOverrideListError(f"not YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("patches"), list):
        raise InvalidOverrideListError("expected a mapping with a 'patches' list")
    entries = []
    for item in document["patches"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise InvalidOverrideListError(f"every patch needs a string 'id': {item!r}")
        title = item.get("title")
        entries.append(OverrideEntry(item["id"], str(title) if title is not None else None))
    return tuple(entries)


def select_override(
    baseline: Baseline,
    entries: Iterable[OverrideEntry],
    patches: Iterable[Patch],
    installed: Mapping[str, datetime],
) -> tuple[Patch, ...]:
    """The listed patches not installed yet; a BLOCK rejection still wins."""
    entries = tuple(entries)
    return tuple(
        p
        for p in patches
        if p.kb_id not in installed
        and any(e.matches(p) for e in entries)
        and not (baseline.rejected_action == "BLOCK" and baseline.rejects(p))
    )
