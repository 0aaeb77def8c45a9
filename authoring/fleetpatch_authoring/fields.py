"""The policy file's building blocks: names, limits, strict types and the problem record.

Shared by the sections of the policy file (:mod:`fleetpatch_authoring.baselines`,
:mod:`~fleetpatch_authoring.waves`, :mod:`~fleetpatch_authoring.sections`) and by its
checks (:mod:`fleetpatch_authoring.validate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict

from fleetpatch.errors import FleetpatchError

# Patch Manager's OperatingSystem names (AWS::SSM::PatchBaseline OperatingSystem).
OperatingSystem = Literal[
    "WINDOWS",
    "AMAZON_LINUX",
    "AMAZON_LINUX_2",
    "AMAZON_LINUX_2022",
    "AMAZON_LINUX_2023",
    "UBUNTU",
    "DEBIAN",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "CENTOS",
    "ORACLE_LINUX",
    "ROCKY_LINUX",
    "ALMA_LINUX",
    "RASPBIAN",
    "MACOS",
]
# Every Patch Manager OS but these two is a Linux distribution.
LINUX = frozenset(get_args(OperatingSystem)) - {"WINDOWS", "MACOS"}
# Debian-family baselines filter on PRIORITY and SECTION, not CLASSIFICATION and SEVERITY.
DEBIAN_FAMILY = frozenset({"UBUNTU", "DEBIAN", "RASPBIAN"})
# Alternative patch sources are a yum/zypper/apt repository feature (not AL1, not macOS).
SOURCES_SUPPORTED = LINUX - {"AMAZON_LINUX"}

ComplianceLevel = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"]

# SSM limits (AWS::SSM::PatchBaseline): 10 approval rules, 50 approved and 50 rejected
# patches, 20 sources; ApproveAfterDays 0-360.
MAX_APPROVAL_RULES = 10
MAX_PATCH_LIST = 50
MAX_SOURCES = 20
MAX_APPROVE_AFTER_DAYS = 360

PATCH_GROUP_NAME = r"^[A-Za-z0-9_.:/=+@\- ]{1,256}$"  # a tag value, as SSM accepts it
NAME = r"^[a-z][a-z0-9-]{0,30}$"  # environments, waves, batches: also in resource names
BASELINE_SOURCE_NAME = r"^[a-zA-Z0-9_\-.]{3,50}$"  # AWS::SSM::PatchBaseline PatchSource Name
EXTENSION_PREFIX = "x-"  # top-level keys ignored by validation: a place for YAML anchors
DEFAULT_NAMING = "patch_{environment}_{hhmm}_batch_{batch}"


class InvalidPolicyError(FleetpatchError):
    """The policy is invalid; ``problems`` lists every problem found, each with its location."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class PolicyProblem:
    loc: tuple[str | int, ...]
    message: str

    @property
    def path(self) -> str:
        return ".".join(str(part) for part in self.loc) or "policy"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _text(value: Any) -> Any:
    # YAML reads `max_errors: 1` as an int and `0600` as octal-ish text; SSM wants strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


RateValue = Annotated[str, BeforeValidator(_text)]

# Run Command's MaxConcurrency and MaxErrors: a count or a percentage, in SSM's ranges.
_CONCURRENCY = re.compile(r"^(?:[1-9][0-9]{0,4}|(?:[1-9][0-9]?|100)%)$")
_ERRORS = re.compile(r"^(?:[0-9]{1,5}|(?:[0-9]{1,2}|100)%)$")


def _concurrency(value: str) -> str:
    if not _CONCURRENCY.fullmatch(value):
        raise ValueError(f"{value!r} is not a count (1-99999) or a percentage (1%-100%)")
    return value


def _errors(value: str) -> str:
    if not _ERRORS.fullmatch(value):
        raise ValueError(f"{value!r} is not a count (0-99999) or a percentage (0%-100%)")
    return value


Concurrency = Annotated[RateValue, AfterValidator(_concurrency)]
ErrorBudget = Annotated[RateValue, AfterValidator(_errors)]

# YAML reads `yes`, `on` and `true` as true, and pydantic would take true as the count 1
# and 0 as false: in a policy file a count is a number and a switch is true or false.
Count = Annotated[int, Strict()]
Percent = Annotated[float, Strict()]  # a whole number is a percentage too
Switch = Annotated[bool, Strict()]


class PolicyModel(BaseModel):
    """A section of the policy file: unknown keys are mistakes, and nothing changes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
