"""Emergency patching: which instances a CVE affects, the patches that fix it, and the run.

An emergency run patches one CVE outside the schedule (docs/emergency.md):

1. **Affected instances**: the scope's instances (the batches of the waves of one
   environment, or of every wave) that Amazon Inspector has an ACTIVE finding for, where
   Inspector has any; else those whose patch state lists a Missing or Failed patch naming
   the CVE (or one of the KBs / packages asked for). Reads are batched: EC2 by tag,
   ``DescribeInstancePatchStates`` 50 instances a call to keep only the instances missing
   something, and ``DescribeInstancePatches`` (the only per-instance read, there is no
   batch form) for those alone.
2. **The fix, per operating system** (the instance's patch baseline's): the missing patches
   (id and title, exact), the packages Inspector names (``name.arch``, the newest
   available), the KBs (Windows) and packages (Linux) asked for. Each OS gets its own
   InstallOverrideList (AWS-RunPatchBaseline installs exactly the listed patches).
3. **The run**: the gated-wave workflow, fed the fleet's own batches in order, each split
   per OS and cut down to its affected instances (``RuntimeBatch.instance_ids``), with the
   policy's ``emergency`` rate control and bakes (``fleetpatch.emergency_policy``). A
   batch's first OS part carries the batch's gate; a later wave's first batch is gated on
   the waves before it.

Pure parts (matching, lists, batches) take no clients; the readers take boto3 clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetpatch import aws
from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.policy import CompiledPolicy

# Inspector's EC2 platform names (resources[].details.awsEc2Instance.platform) by prefix:
# an instance Patch Manager never scanned still has its operating system from its finding.
PLATFORM_PREFIXES = (
    ("AMAZON_LINUX_2023", "AMAZON_LINUX_2023"),
    ("AMAZON_LINUX_2", "AMAZON_LINUX_2"),
    ("UBUNTU", "UBUNTU"),
    ("RHEL", "REDHAT_ENTERPRISE_LINUX"),
    ("CENTOS", "CENTOS"),
    ("SUSE", "SUSE"),
    ("SLES", "SUSE"),
    ("WINDOWS", "WINDOWS"),
)
STATE_BATCH = 50  # DescribeInstancePatchStates: at most 50 instance ids a call
NOT_INSTALLED = ("Missing", "Failed")  # DescribeInstancePatches' State filter values
LINUX_WILDCARD_ARCH = "*"
# Short names for the batch parts (a batch name goes into S3 prefixes and the report).
OS_SHORT = {
    "AMAZON_LINUX_2": "al2",
    "AMAZON_LINUX_2023": "al2023",
    "REDHAT_ENTERPRISE_LINUX": "rhel",
    "CENTOS": "centos",
    "SUSE": "suse",
    "UBUNTU": "ubuntu",
    "WINDOWS": "windows",
}


# --- what is asked -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What an emergency patches: a CVE, and optionally the KBs and packages that fix it."""

    cve: str
    kbs: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()

    def names(self, patch: Mapping[str, Any]) -> bool:
        """Whether a DescribeInstancePatches entry fixes the target."""
        cves = {c.strip() for c in str(patch.get("CVEIds", "")).split(",") if c.strip()}
        kb = str(patch.get("KBId", ""))
        name = kb.rsplit(".", 1)[0] if "." in kb else kb
        return self.cve in cves or kb in self.kbs or name in self.packages


@dataclass(frozen=True)
class Fix:
    """One InstallOverrideList entry: a patch id (wildcards allowed) and, if known, its title."""

    id: str
    title: str | None = None


@dataclass(frozen=True)
class Finding:
    """An Inspector finding for the CVE on one instance."""

    instance_id: str
    severity: str
    first_observed: datetime
    packages: tuple[str, ...]  # name.arch (Linux) or KB (Windows)
    platform: str | None = None  # Inspector's (AMAZON_LINUX_2023, UBUNTU_22_04, ...)

    @property
    def operating_system(self) -> str | None:
        """Patch Manager's operating system for Inspector's platform, if it names one."""
        if self.platform is None:
            return None
        return next(
            (os for prefix, os in PLATFORM_PREFIXES if self.platform.startswith(prefix)), None
        )


@dataclass
class Resolution:
    """Which instances the CVE affects, their OS, and each OS's fix."""

    source: str  # "inspector" or "patch-state"
    affected: dict[str, str] = field(default_factory=dict)  # instance -> operating system
    fixes: dict[str, list[Fix]] = field(default_factory=dict)  # operating system -> entries
    not_patched: dict[str, str] = field(default_factory=dict)  # instance -> why not
    findings: dict[str, Finding] = field(default_factory=dict)

    @property
    def by_os(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for instance_id, os_name in sorted(self.affected.items()):
            found.setdefault(os_name, []).append(instance_id)
        return found


# --- reading -------------------------------------------------------------------------------------


def inspector_findings(inspector2: Any, cve: str) -> list[Finding]:
    """The ACTIVE EC2 findings Inspector holds for ``cve`` (paged)."""
    criteria = {
        "vulnerabilityId": [{"comparison": "EQUALS", "value": cve}],
        "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
        "resourceType": [{"comparison": "EQUALS", "value": "AWS_EC2_INSTANCE"}],
    }
    found: list[Finding] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"filterCriteria": criteria, "maxResults": 100}
        if token:
            kwargs["nextToken"] = token
        page = aws.patiently(inspector2.list_findings, **kwargs)
        for finding in page.get("findings", []):
            packages = tuple(
                # Inspector writes the arch in capitals (X86_64); package ids are lower case.
                f"{p['name']}.{str(p['arch']).lower()}" if p.get("arch") else str(p["name"])
                for p in finding.get("packageVulnerabilityDetails", {}).get(
                    "vulnerablePackages", []
                )
            )
            for resource in finding.get("resources", []):
                if resource.get("type") == "AWS_EC2_INSTANCE":
                    ec2 = resource.get("details", {}).get("awsEc2Instance", {})
                    found.append(
                        Finding(
                            instance_id=str(resource["id"]).rsplit("/", 1)[-1],
                            severity=str(finding.get("severity", "UNTRIAGED")),
                            first_observed=finding["firstObservedAt"],
                            packages=packages,
                            platform=ec2.get("platform"),
                        )
                    )
        token = page.get("nextToken")
        if not token:
            return found


def operating_systems(
    ssm: Any, instance_ids: Sequence[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Instance -> (its baseline's operating system, its patch state), for those with one.

    DescribeInstancePatchStates 50 a call; GetPatchBaseline once per baseline.
    """
    states: dict[str, dict[str, Any]] = {}
    for start in range(0, len(instance_ids), STATE_BATCH):
        chunk = list(instance_ids[start : start + STATE_BATCH])
        for page in aws.pages(ssm.describe_instance_patch_states, InstanceIds=chunk):
            for state in page.get("InstancePatchStates", []):
                states[state["InstanceId"]] = state
    systems: dict[str, str] = {}
    found = {}
    for instance_id, state in states.items():
        baseline = state["BaselineId"]
        if baseline not in systems:
            got = aws.patiently(ssm.get_patch_baseline, BaselineId=baseline)
            systems[baseline] = str(got["OperatingSystem"])
        found[instance_id] = (systems[baseline], state)
    return found


def missing_fixes(
    ssm: Any, instance_ids: Iterable[str], target: Target, unreachable: set[str] | None = None
) -> dict[str, list[Fix]]:
    """Instance -> the Missing or Failed patches on it that fix ``target`` (exact id, title).

    A host Systems Manager no longer answers for (InvalidInstanceId: stopped, terminated or
    deregistered since its last scan) is left out, and added to ``unreachable``.
    """
    found: dict[str, list[Fix]] = {}
    for instance_id in instance_ids:
        fixes = []
        try:
            for page in aws.pages(
                ssm.describe_instance_patches,
                InstanceId=instance_id,
                Filters=[{"Key": "State", "Values": list(NOT_INSTALLED)}],
            ):
                fixes += [
                    Fix(p["KBId"], p.get("Title")) for p in page["Patches"] if target.names(p)
                ]
        except ssm.exceptions.InvalidInstanceId:
            if unreachable is not None:
                unreachable.add(instance_id)
            continue
        if fixes:
            found[instance_id] = fixes
    return found


UNREACHABLE = (
    "Systems Manager no longer answers for it (stopped, terminated or deregistered since its "
    "last scan): patch it when it is back"
)


def _missing_something(state: Mapping[str, Any]) -> bool:
    return int(state.get("MissingCount", 0)) + int(state.get("FailedCount", 0)) > 0


def resolve(
    target: Target, candidates: Sequence[str], *, ssm: Any, inspector2: Any | None
) -> Resolution:
    """Which of ``candidates`` the target affects, and each OS's fix (see the module)."""
    findings = (
        {f.instance_id: f for f in inspector_findings(inspector2, target.cve)}
        if inspector2 is not None
        else {}
    )
    in_scope = set(candidates)
    resolution = Resolution(source="inspector" if findings else "patch-state")
    for instance_id in sorted(set(findings) - in_scope):
        resolution.not_patched[instance_id] = "not in any batch of this emergency's waves"
    resolution.findings = {i: f for i, f in findings.items() if i in in_scope}
    looked_at = sorted(resolution.findings) if findings else sorted(in_scope)
    systems = operating_systems(ssm, looked_at)
    narrowed = [i for i in looked_at if i in systems and _missing_something(systems[i][1])]
    unreachable: set[str] = set()
    exact = missing_fixes(ssm, narrowed, target, unreachable)
    for instance_id in sorted(unreachable - set(resolution.findings)):
        resolution.not_patched[instance_id] = UNREACHABLE
    affected = set(resolution.findings) if findings else set(exact)
    for instance_id in sorted(affected):
        finding = resolution.findings.get(instance_id)
        os_name = (
            systems[instance_id][0]
            if instance_id in systems
            else (finding.operating_system if finding else None)
        )
        if os_name is None:
            resolution.not_patched[instance_id] = (
                "no patch state (never scanned): its operating system is not known"
            )
            continue
        resolution.affected[instance_id] = os_name
    for os_name, instances in resolution.by_os.items():
        entries = _os_fixes(os_name, instances, target, exact, resolution.findings)
        if entries:
            resolution.fixes[os_name] = entries
            continue
        for instance_id in instances:
            resolution.not_patched[instance_id] = f"no patch known to fix {target.cve} on {os_name}"
            del resolution.affected[instance_id]
    return resolution


def _os_fixes(
    os_name: str,
    instances: Sequence[str],
    target: Target,
    exact: Mapping[str, Sequence[Fix]],
    findings: Mapping[str, Finding],
) -> list[Fix]:
    entries: dict[str, Fix] = {}
    for instance_id in instances:
        for fix in exact.get(instance_id, ()):
            entries[fix.id] = fix
    for instance_id in instances:
        finding = findings.get(instance_id)
        for package in finding.packages if finding else ():
            entries.setdefault(package, Fix(package))
    if os_name == "WINDOWS":
        for kb in target.kbs:
            entries.setdefault(kb, Fix(kb))
    else:
        for name in target.packages:
            pattern = f"{name}.{LINUX_WILDCARD_ARCH}"
            if not any(e.split(".", 1)[0] == name for e in entries):
                entries[pattern] = Fix(pattern)
    return sorted(entries.values(), key=lambda f: f.id)


# --- the InstallOverrideList ---------------------------------------------------------------------


def override_list(cve: str, os_name: str, fixes: Sequence[Fix]) -> str:
    """AWS-RunPatchBaseline's InstallOverrideList: ``patches`` with ``id`` and ``title``."""
    lines = [f"# fleetpatch: emergency {cve} on {os_name}", "patches:"]
    for fix in fixes:
        lines.append(f"  - id: {json.dumps(fix.id)}")
        if fix.title:
            lines.append(f"    title: {json.dumps(fix.title)}")
    return "\n".join(lines) + "\n"


# --- the run's batches ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The waves (in policy order) and their batches an emergency goes through."""

    waves: list[str]

    @classmethod
    def of(cls, policy: CompiledPolicy, environment: str | None) -> Scope:
        if environment is None:
            return cls(list(policy.waves))
        return cls(
            [
                name
                for name, wave in policy.waves.items()
                if any(
                    policy.environment_of(g) == environment
                    for b in wave.batches
                    for g in b.patch_groups
                )
            ]
        )

    def batches(self, policy: CompiledPolicy) -> list[tuple[str, RuntimeBatch]]:
        return [(w, b) for w in self.waves for b in policy.waves[w].batches]


def emergency_batches(
    policy: CompiledPolicy,
    scope: Scope,
    members: Mapping[str, Sequence[str]],
    affected: Mapping[str, str],
    lists: Mapping[str, str],
) -> list[RuntimeBatch]:
    """The run's batches: each scope batch per OS, only its affected members.

    ``members``: ``"<wave>/<batch>"`` -> the batch's instances (by its patch groups);
    ``affected``: instance -> OS; ``lists``: OS -> the OS's InstallOverrideList URL.
    """
    rules = policy.emergency
    parts: dict[tuple[str, str], list[str]] = {}  # (wave, batch) -> its parts' names
    found: list[RuntimeBatch] = []
    earlier: list[str] = []  # every part of the waves before this one
    for wave in scope.waves:
        this_wave: list[str] = []
        for batch in policy.waves[wave].batches:
            ours = [i for i in members.get(f"{wave}/{batch.name}", []) if i in affected]
            by_os: dict[str, list[str]] = {}
            for instance_id in ours:
                by_os.setdefault(affected[instance_id], []).append(instance_id)
            names: list[str] = []
            for index, os_name in enumerate(sorted(by_os)):
                name = f"{wave}-{batch.name}-{OS_SHORT.get(os_name, os_name.lower())}"
                gate = (
                    _gate(
                        batch.gate,
                        parts,
                        wave=wave,
                        earlier=earlier,
                        this_wave=this_wave,
                        bake_minutes=rules.bake_minutes,
                    )
                    if index == 0
                    else None
                )
                found.append(
                    RuntimeBatch(
                        name=name,
                        patch_groups=batch.patch_groups,
                        max_concurrency=rules.max_concurrency,
                        max_errors=rules.max_errors,
                        operation="Install",
                        reboot_option=batch.reboot_option,
                        gate=gate,
                        serving=batch.serving,
                        instance_ids=sorted(by_os[os_name]),
                        install_override_list=lists[os_name],
                    )
                )
                names.append(name)
            parts[(wave, batch.name)] = names
            this_wave += names
        earlier += this_wave
    return found


def _gate(
    gate: RuntimeGate | None,
    parts: Mapping[tuple[str, str], Sequence[str]],
    *,
    wave: str,
    earlier: Sequence[str],
    this_wave: Sequence[str],
    bake_minutes: int,
) -> RuntimeGate | None:
    """The gate before a batch's first part: the wave's gate over the checked batches' parts;
    a wave's first part with parts before it: every part of the waves before must have
    installed the fix (compliance with the whole baseline is not asked: the run installs
    the fix only). Bakes are the emergency's at most; a checked batch with no part
    (none of its instances affected) has nothing to judge."""
    if gate is not None:
        checked = [p for b in gate.batches for p in parts.get((wave, b), [])]
        if checked:
            return gate.model_copy(
                update={
                    "batches": checked,
                    "bake_minutes": min(gate.bake_minutes, bake_minutes),
                    "allow_empty": True,
                    # The run installs the fix only: the rest of the baseline stays missing,
                    # so "compliant" would never hold. The gate judges the installs (and
                    # alarms); the report reads each host's fix back.
                    "require_compliant": False,
                }
            )
    if not this_wave and earlier:
        return RuntimeGate(
            batches=list(earlier),
            max_failed=0,
            require_compliant=False,
            bake_minutes=bake_minutes,
            allow_empty=True,
        )
    return None
