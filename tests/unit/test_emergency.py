"""Emergency resolution, the InstallOverrideList and the run's batches (fleetpatch.emergency)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.emergency import Fix, Scope, Target, emergency_batches, override_list, resolve
from fleetpatch.emergency_policy import CompiledEmergency, CompiledInspector
from fleetpatch.errors import InvalidEventError
from fleetpatch.events import parse_event
from fleetpatch.policy import CompiledPolicy, CompiledSchedule, CompiledWave
from fleetpatch.services.emergency import EmergencyRequest, request_of_event
from localcloud.scenario import Scenario
from localcloud.sim.patches import parse_override_list
from tests.conftest import load_event

CVE = "CVE-2024-7264"
AL2 = "pb-0aaaaaaaaaaaaaaaa"
WIN = "pb-0bbbbbbbbbbbbbbbb"
SEEN = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


class FakeSsm:
    """Patch states and patches as SSM returns them; counts the calls."""

    def __init__(self, fleet: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        self.fleet = fleet  # instance -> (baseline, its Missing/Failed patches)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def describe_instance_patch_states(self, InstanceIds: list[str]) -> dict[str, Any]:
        self._count("states")
        assert len(InstanceIds) <= 50
        return {
            "InstancePatchStates": [
                {
                    "InstanceId": i,
                    "BaselineId": self.fleet[i][0],
                    "MissingCount": len(self.fleet[i][1]),
                    "FailedCount": 0,
                }
                for i in InstanceIds
                if i in self.fleet
            ]
        }

    def get_patch_baseline(self, BaselineId: str) -> dict[str, Any]:
        self._count("baseline")
        return {"OperatingSystem": "WINDOWS" if BaselineId == WIN else "AMAZON_LINUX_2"}

    def describe_instance_patches(self, InstanceId: str, Filters: Any) -> dict[str, Any]:
        self._count("patches")
        assert Filters == [{"Key": "State", "Values": ["Missing", "Failed"]}]
        return {"Patches": self.fleet[InstanceId][1]}


class FakeInspector:
    def __init__(self, findings: list[dict[str, Any]]) -> None:
        self.findings = findings

    def list_findings(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["filterCriteria"]["vulnerabilityId"] == [
            {"comparison": "EQUALS", "value": CVE}
        ]
        return {"findings": self.findings}


CURL = {"KBId": "curl.x86_64", "Title": "curl.x86_64:0:8.3.0-1.amzn2.0.7", "CVEIds": CVE}
OPENSSL = {
    "KBId": "openssl-libs.x86_64",
    "Title": "openssl-libs.x86_64:1:1.0.2k",
    "CVEIds": "CVE-2024-5535",
}
KB = {
    "KBId": "KB5044281",
    "Title": "2024-10 Cumulative Update (KB5044281)",
    "CVEIds": "CVE-2024-43572",
}


def test_patch_state_path_finds_the_hosts_missing_the_fix_with_few_calls() -> None:
    # Given 120 Amazon Linux 2 hosts, 3 missing curl, 57 missing only openssl, 60 missing
    # nothing, a Windows host missing its own KB and one host never scanned
    fleet: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for n in range(120):
        missing = [CURL, OPENSSL] if n < 3 else [OPENSSL] if n < 60 else []
        fleet[f"i-{n:08x}"] = (AL2, missing)
    fleet["i-ffffffff"] = (WIN, [KB])
    ssm = FakeSsm(fleet)
    candidates = [*fleet, "i-eeeeeeee"]
    # When the CVE is resolved without Inspector
    found = resolve(Target(CVE), candidates, ssm=ssm, inspector2=None)
    # Then the three hosts missing curl are affected, with the exact fix
    assert found.source == "patch-state"
    assert found.by_os == {"AMAZON_LINUX_2": ["i-00000000", "i-00000001", "i-00000002"]}
    assert found.fixes == {"AMAZON_LINUX_2": [Fix("curl.x86_64", CURL["Title"])]}
    # ... reading patch states 50 at a time, each baseline once, and the patches of only
    # the hosts missing something (no per-host call for the 60 compliant ones)
    assert ssm.calls == {"states": 3, "baseline": 2, "patches": 61}


def test_kb_and_package_options_name_the_fix_per_os() -> None:
    ssm = FakeSsm({"i-00000001": (WIN, [KB]), "i-00000002": (AL2, [OPENSSL])})
    found = resolve(
        Target(CVE, kbs=("KB5044281",), packages=("openssl-libs",)),
        ["i-00000001", "i-00000002"],
        ssm=ssm,
        inspector2=None,
    )
    assert found.fixes == {
        "AMAZON_LINUX_2": [Fix("openssl-libs.x86_64", OPENSSL["Title"])],
        "WINDOWS": [Fix("KB5044281", KB["Title"])],
    }


def test_inspector_findings_decide_the_hosts_and_name_the_packages() -> None:
    # Given findings on two hosts of the scope (one not missing an approved patch: its fix is
    # the package Inspector names) and one host outside it
    ssm = FakeSsm({"i-00000001": (AL2, [CURL]), "i-00000002": (AL2, [])})
    finding = {
        "severity": "CRITICAL",
        "firstObservedAt": SEEN,
        "packageVulnerabilityDetails": {
            "vulnerablePackages": [{"name": "curl", "arch": "X86_64"}],
        },
    }
    inspector = FakeInspector(
        [
            {**finding, "resources": [{"type": "AWS_EC2_INSTANCE", "id": i}]}
            for i in ("i-00000001", "i-00000002", "i-00000009")
        ]
    )
    found = resolve(Target(CVE), ["i-00000001", "i-00000002"], ssm=ssm, inspector2=inspector)
    assert found.source == "inspector"
    assert found.by_os == {"AMAZON_LINUX_2": ["i-00000001", "i-00000002"]}
    assert found.fixes["AMAZON_LINUX_2"] == [Fix("curl.x86_64", CURL["Title"])]
    assert found.not_patched == {"i-00000009": "not in any batch of this emergency's waves"}
    assert found.findings["i-00000002"].first_observed == SEEN


def test_a_host_never_scanned_takes_its_os_from_the_finding() -> None:
    ssm = FakeSsm({})
    finding = {
        "severity": "CRITICAL",
        "firstObservedAt": SEEN,
        "packageVulnerabilityDetails": {"vulnerablePackages": [{"name": "curl", "arch": "amd64"}]},
        "resources": [
            {
                "type": "AWS_EC2_INSTANCE",
                "id": "i-00000003",
                "details": {"awsEc2Instance": {"platform": "UBUNTU_22_04"}},
            }
        ],
    }
    found = resolve(Target(CVE), ["i-00000003"], ssm=ssm, inspector2=FakeInspector([finding]))
    assert found.affected == {"i-00000003": "UBUNTU"}
    assert found.fixes == {"UBUNTU": [Fix("curl.amd64")]}


def test_a_host_without_patch_state_or_fix_is_reported_not_patched() -> None:
    ssm = FakeSsm({"i-00000001": (WIN, [])})
    finding = {
        "severity": "HIGH",
        "firstObservedAt": SEEN,
        "packageVulnerabilityDetails": {"vulnerablePackages": []},
    }
    inspector = FakeInspector(
        [
            {**finding, "resources": [{"type": "AWS_EC2_INSTANCE", "id": i}]}
            for i in ("i-00000001", "i-00000002")
        ]
    )
    found = resolve(Target(CVE), ["i-00000001", "i-00000002"], ssm=ssm, inspector2=inspector)
    assert found.affected == {}
    assert found.not_patched == {
        "i-00000001": f"no patch known to fix {CVE} on WINDOWS",
        "i-00000002": "no patch state (never scanned): its operating system is not known",
    }


def test_the_override_list_is_what_the_agent_reads() -> None:
    text = override_list(CVE, "AMAZON_LINUX_2", [Fix("curl.x86_64", CURL["Title"]), Fix("zlib.*")])
    assert yaml.safe_load(text) == {
        "patches": [{"id": "curl.x86_64", "title": CURL["Title"]}, {"id": "zlib.*"}]
    }
    # The local cloud's agent (an independent reading of the AWS format) accepts it too.
    assert [(e.id, e.title) for e in parse_override_list(text)] == [
        ("curl.x86_64", CURL["Title"]),
        ("zlib.*", None),
    ]


def _batch(name: str, group: str, gate: RuntimeGate | None = None) -> RuntimeBatch:
    return RuntimeBatch(
        name=name,
        patch_groups=[group],
        max_concurrency="50%",
        max_errors="0",
        operation="Install",
        reboot_option="RebootIfNeeded",
        gate=gate,
    )


def test_batches_follow_the_waves_split_per_os_with_compressed_gates() -> None:
    # Given test (one batch) then prod (db, then web behind a 4-hour gate)
    schedule = CompiledSchedule(cron="cron(0 6 ? * SAT#1 *)")
    policy = CompiledPolicy(
        waves={
            "test": CompiledWave(schedule=schedule, batches=[_batch("all", "t")]),
            "prod": CompiledWave(
                schedule=schedule,
                batches=[
                    _batch("db", "p-db"),
                    _batch("web", "p-web", RuntimeGate(batches=["db"], bake_minutes=240)),
                ],
            ),
        },
        patch_groups={"t": "test", "p-db": "prod", "p-web": "prod"},
    )
    members = {"test/all": ["i-1", "i-2"], "prod/db": ["i-3", "i-4"], "prod/web": ["i-5"]}
    affected = {
        "i-1": "AMAZON_LINUX_2",
        "i-3": "AMAZON_LINUX_2",
        "i-4": "WINDOWS",
        "i-5": "WINDOWS",
    }
    lists = {"AMAZON_LINUX_2": "s3://b/al2.yaml", "WINDOWS": "s3://b/win.yaml"}
    # When the run's batches are built for the whole fleet
    found = emergency_batches(policy, Scope.of(policy, None), members, affected, lists)
    # Then each batch goes per OS, with its affected members and its OS's list
    assert [(b.name, b.instance_ids, b.install_override_list) for b in found] == [
        ("test-all-al2", ["i-1"], "s3://b/al2.yaml"),
        ("prod-db-al2", ["i-3"], "s3://b/al2.yaml"),
        ("prod-db-windows", ["i-4"], "s3://b/win.yaml"),
        ("prod-web-windows", ["i-5"], "s3://b/win.yaml"),
    ]
    # ... prod's first part gated on test; db's second part goes straight on; web's gate
    # checks both db parts with the emergency's bake (10 minutes, not 4 hours)
    gates = [b.gate for b in found]
    assert gates[0] is None
    assert gates[1] is not None
    assert gates[1].batches == ["test-all-al2"]
    assert gates[2] is None
    assert gates[3] is not None
    assert (gates[3].batches, gates[3].bake_minutes) == (["prod-db-al2", "prod-db-windows"], 10)
    assert {b.max_concurrency for b in found} == {policy.emergency.max_concurrency}
    # And an environment narrows the scope to its waves
    assert Scope.of(policy, "prod").waves == ["prod"]


def _policy_with(*, inspector: bool, severities: tuple[str, ...] = ("CRITICAL", "HIGH")) -> Any:
    return CompiledPolicy(
        patch_groups={"g": "prod"},
        emergency=CompiledEmergency(
            inspector=CompiledInspector(enabled=inspector, severities=list(severities))
        ),
    )


def test_a_finding_asks_only_when_the_policy_enables_its_severity() -> None:
    event = parse_event(load_event("aws.inspector2/package-vulnerability-critical"))
    assert "not enabled" in str(request_of_event(event, _policy_with(inspector=False)))  # type: ignore[arg-type]
    high_only = _policy_with(inspector=True, severities=("HIGH",))
    assert "HIGH findings only" in str(request_of_event(event, high_only))  # type: ignore[arg-type]
    asked = request_of_event(event, _policy_with(inspector=True))  # type: ignore[arg-type]
    assert isinstance(asked, EmergencyRequest)
    assert asked.target == Target(CVE)
    assert asked.findings == {"i-0727110e75ed6b7ed": datetime(2026, 11, 12, 10, 15, 42, tzinfo=UTC)}


def test_an_operators_request_for_an_unknown_environment_is_invalid_naming_the_field() -> None:
    raw = load_event("fleetpatch.operator/emergency-patch-requested")
    raw["detail"]["environment"] = "staging"
    event = parse_event(raw)
    with pytest.raises(InvalidEventError) as raised:
        request_of_event(event, _policy_with(inspector=False))  # type: ignore[arg-type]
    assert raised.value.field == "detail.environment"


def test_a_scenario_finding_names_known_instances() -> None:
    with pytest.raises(ValidationError, match=r"inspector_finding\.names: no fleet"):
        Scenario.model_validate(
            {
                "name": "x",
                "steps": [{"inspector_finding": {"names": ["nobody"], "cve": CVE}}],
            }
        )


def test_a_policy_exclusion_leaves_its_patch_out_of_the_override_list() -> None:
    # Given a CVE fixed by openssl and curl on Amazon Linux 2 and only by openssl on SUSE,
    # and openssl* excluded in prod until the end of the year (not yet expired)
    from fleetpatch.emergency import Resolution
    from fleetpatch.exclusions import CompiledExclusion
    from fleetpatch.services.emergency import leave_out_exclusions

    pinned = CompiledExclusion(
        patches=["openssl*"],
        environments=["prod"],
        operatingSystems=["AMAZON_LINUX_2", "SUSE"],
        until=datetime(2026, 12, 31).date(),
        reason="vendor pin, OPS-123",
    )
    policy = CompiledPolicy(exclusions=[pinned])
    resolution = Resolution(
        source="patch-state",
        affected={"i-al2": "AMAZON_LINUX_2", "i-suse": "SUSE"},
        fixes={
            "AMAZON_LINUX_2": [Fix("openssl-libs.x86_64"), Fix("curl.x86_64")],
            "SUSE": [Fix("openssl*")],
        },
    )
    now = datetime(2026, 12, 10, tzinfo=UTC)

    # When the run's lists are made for prod
    lines = leave_out_exclusions(policy, ["prod"], resolution, now)

    # Then openssl is left out (also a wildcard fix that would install it), and said so;
    # SUSE, with nothing left, is not patched, with the reason
    assert resolution.fixes == {"AMAZON_LINUX_2": [Fix("curl.x86_64")]}
    assert resolution.affected == {"i-al2": "AMAZON_LINUX_2"}
    assert resolution.not_patched == {"i-suse": "every fix on SUSE is excluded by the policy"}
    assert [line.split(" left out: ")[0] for line in lines] == [
        "openssl-libs.x86_64 (AMAZON_LINUX_2)",
        "openssl* (SUSE)",
    ]
    # And after its last day, or in another environment, nothing is left out
    for environments, when in ((["prod"], datetime(2027, 1, 1, tzinfo=UTC)), (["test"], now)):
        fresh = Resolution(
            source="patch-state",
            affected={"i-suse": "SUSE"},
            fixes={"SUSE": [Fix("openssl*")]},
        )
        assert leave_out_exclusions(policy, environments, fresh, when) == []
        assert fresh.fixes == {"SUSE": [Fix("openssl*")]}
