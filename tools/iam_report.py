"""What the control plane's roles did under the tests, and which grants nothing used.

Reads the decisions the local cloud's IAM enforcement logged while the workflow tests ran
(``FLEETPATCH_IAM_LOG``, one JSON line per authorization question) and the roles of the
real template (deployed once more on a local cloud, so statement numbers are the ones the
enforcement evaluated), and prints:

1. every (role, action, resource) the suite exercised, with allow or deny counts;
2. every grant of the template (role, policy, statement, action) that no allowed call
   matched: each must be removed, or listed with its reason in docs/security.md under
   "Grants no test exercises" (``--check`` fails when one is neither);
3. for each used grant, whether some call was allowed by it alone: removing such a
   statement makes that call fail (the mutation each workflow test would see), while a
   grant every use of which another statement also allows is reported as redundant.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SECURITY_DOC = REPO / "docs" / "security.md"
_ID_PATTERNS = (
    (re.compile(r"\bi-[0-9a-f]{8,17}\b"), "i-*"),
    (re.compile(r"\bmi-[0-9a-f]{17}\b"), "mi-*"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "*"),
    (re.compile(r"(schedule/default/fleetpatch-[a-z0-9]+-(?:hb|digest)-).+"), r"\1*"),
    (re.compile(r"(/reports/).+"), r"\1*"),
    (re.compile(r"(parameter/fleetpatch/)[^/]+(/.*)"), r"\1*\2"),
)


def _collapse(resource: str) -> str:
    for pattern, replacement in _ID_PATTERNS:
        resource = pattern.sub(replacement, resource)
    return resource


def _decisions(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("decisions-*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return rows


def _template_grants() -> list[tuple[str, str, int, str, str]]:
    """(role logical id, statement ref as logged, statement index, policy name, action pattern)."""
    from localcloud.cloud import LocalCloud

    grants = []
    with LocalCloud(iam=False) as cloud:
        cloud.deploy()
        iam = cloud.client("iam")
        for arn, role in cloud.iam._roles.items():
            name = arn.rsplit("/", 1)[-1]
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)[
                    "PolicyDocument"
                ]
                statements = document["Statement"]
                for index, statement in enumerate(
                    statements if isinstance(statements, list) else [statements]
                ):
                    if statement.get("Effect") != "Allow":
                        continue
                    actions = statement.get("Action", [])
                    for action in actions if isinstance(actions, list) else [actions]:
                        grants.append(
                            (
                                role.logical_id,
                                f"{name}/{policy_name}#{index}",
                                index,
                                policy_name,
                                action,
                            )
                        )
    return grants


def _documented() -> set[str]:
    """``LogicalId/policy#index action`` entries of docs/security.md's unused-grant table."""
    if not SECURITY_DOC.exists():
        return set()
    text = SECURITY_DOC.read_text(encoding="utf-8")
    return set(re.findall(r"`([A-Za-z0-9]+/[a-z0-9-]+#\d+ [a-z0-9-]+:[A-Za-z0-9*]+)`", text))


def _identity_refs(refs: list[str]) -> list[str]:
    """The role's own statements among those that allowed a call (not resource policies)."""
    return [r for r in refs if ":" not in r.split("/", 1)[0]]


def _exercised(
    decisions: list[dict[str, Any]],
) -> tuple[Counter[tuple[str, str, str, bool]], dict[tuple[str, str], list[list[str]]]]:
    """Count each (principal, action, resource, allowed), and which statements allowed what."""
    exercised: Counter[tuple[str, str, str, bool]] = Counter()
    used: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for d in decisions:
        who = d["role_logical_id"] or d["principal"]
        exercised[(who, d["action"], _collapse(d["resource"]), d["allowed"])] += 1
        if d["allowed"]:
            for ref in d["statements"]:
                used[(ref.split("/", 1)[-1] if "/" in ref else ref, d["action"])].append(
                    d["statements"]
                )
    return exercised, used


def _classify(
    used: dict[tuple[str, str], list[list[str]]],
) -> tuple[list[str], list[str], list[str]]:
    """The template's grants: unused, needed alone by some call, or always redundant."""
    from localcloud.core.iam.policy import glob_match

    unused, sole, redundant = [], [], []
    for logical_id, ref, index, policy_name, pattern in _template_grants():
        key_ref = ref.split("/", 1)[1]
        uses = [
            (action, statement_sets)
            for (used_ref, action), statement_sets in used.items()
            if used_ref == key_ref and glob_match(pattern, action, ignore_case=True)
        ]
        label = f"{logical_id}/{policy_name}#{index} {pattern}"
        if not uses:
            unused.append(label)
        elif any(
            [r.split("/", 1)[1] for r in _identity_refs(sets)] == [key_ref]
            for _, group in uses
            for sets in group
        ):
            sole.append(label)
        else:
            redundant.append(label)
    return unused, sole, redundant


def report(folder: Path, *, check: bool) -> int:
    decisions = [
        d
        for d in _decisions(folder)
        if d.get("role_logical_id") or not d["principal"].startswith("arn")
    ]
    if not decisions:
        print(
            f"no IAM decisions in {folder}: "
            f"run the workflow tests with FLEETPATCH_IAM_LOG={folder}",
            file=sys.stderr,
        )
        return 2
    exercised, used = _exercised(decisions)

    from localcloud.core.iam import sar

    print(f"# IAM report: {len(decisions)} authorization questions ({sar.source()})\n")
    print("## Exercised (principal, action, resource: allowed/denied)\n")
    rows: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (who, action, resource, allowed), count in exercised.items():
        rows[(who, action, resource)][0 if allowed else 1] += count
    for (who, action, resource), (n_allowed, n_denied) in sorted(rows.items()):
        print(f"- {who}: {action} on {resource}: {n_allowed} allowed, {n_denied} denied")

    documented = _documented()
    unused, sole, redundant = _classify(used)
    print("\n## Grants no test exercised\n")
    # A grant no call needed alone can go without any test noticing: it must be explained
    # like an unused one (removing a statement some call needed alone denies that call,
    # and a denial no test asked for fails the test: that is the mutation check).
    undocumented = [u for u in unused + redundant if u not in documented]
    for label in unused:
        print(f"- {label}{'' if label in documented else '   <- not in docs/security.md'}")
    print(f"\n## Grants some call needed alone (removing one denies that call): {len(sole)}\n")
    for label in sole:
        print(f"- {label}")
    print(f"\n## Grants used, but every use also allowed by another statement: {len(redundant)}\n")
    for label in redundant:
        print(f"- {label}")
    if check and undocumented:
        print(
            f"\n{len(undocumented)} grant(s) no call needed neither removed nor listed with a "
            "reason in docs/security.md (section 'Grants no test exercises'):\n"
            + "\n".join(f"  {u}" for u in undocumented),
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="FLEETPATCH_IAM_LOG folder of a test run")
    parser.add_argument(
        "--check",
        action="store_true",
        help="fail on an unused grant docs/security.md does not list",
    )
    args = parser.parse_args(argv)
    return report(args.folder, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
