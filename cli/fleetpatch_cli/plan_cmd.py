"""``fleetpatch plan``: the dry run before a window. Nothing is changed anywhere.

For each wave (or the one named): the next run times in UTC and local time, the batches in
order, how each is patched (a serving batch's drain, budget, health checks, snapshots and
hooks, or in place), the instances in each batch with the baseline that patches them, and
the instances no wave will patch, with the reason. The fleet is read with read-only calls
(``ec2:DescribeInstances``, ``ssm:DescribeInstanceInformation``) from:

* the account your AWS credentials point at (``--region``, ``--profile``);
* any AWS-compatible endpoint, e.g. ``fleetpatch local up`` (``--endpoint-url``);
* a scenario's simulated fleet on an in-process local cloud (``--local-fleet SCENARIO``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.contracts.names import policy_parameter_name
from fleetpatch.skip_tag import evaluate
from fleetpatch.tags import SKIP_TAG_KEY
from fleetpatch_authoring.placement import InstanceFacts, NotPlaced, Placement, place
from fleetpatch_authoring.policy import FleetPolicy
from fleetpatch_authoring.render import baseline_name
from fleetpatch_authoring.serving import Serving
from fleetpatch_authoring.yamlfile import InvalidFileError
from fleetpatch_cli import wave_skip_cmd
from fleetpatch_cli.controlplane import Clients, boto_clients
from fleetpatch_cli.parser import did_you_mean, examples
from fleetpatch_cli.plan_serving import serving_lines
from fleetpatch_cli.policy_cmd import DEFAULT_POLICY, EXIT_INVALID, load_policy, print_errors

RUNS_SHOWN = 3
# DescribeInstanceInformation takes at most 50 instance ids per filter value list.
_SSM_ID_BATCH = 50


# --- reading the fleet (read-only) ----------------------------------------------------------


def read_fleet(ec2: Any, ssm: Any) -> list[InstanceFacts]:
    """Every instance that is not terminated, with its tags and SSM platform (if managed)."""
    instances: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            }
        ]
    ):
        for reservation in page["Reservations"]:
            instances.extend(reservation["Instances"])
    ids = [i["InstanceId"] for i in instances]
    platforms: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _SSM_ID_BATCH):
        chunk = ids[start : start + _SSM_ID_BATCH]
        for page in ssm.get_paginator("describe_instance_information").paginate(
            Filters=[{"Key": "InstanceIds", "Values": chunk}]
        ):
            for info in page["InstanceInformationList"]:
                platforms[info["InstanceId"]] = info
    facts = []
    for instance in instances:
        info = platforms.get(instance["InstanceId"], {})
        facts.append(
            InstanceFacts(
                instance_id=instance["InstanceId"],
                tags={t["Key"]: t["Value"] for t in instance.get("Tags", [])},
                state=instance["State"]["Name"],
                platform_type=info.get("PlatformType"),
                platform_name=info.get("PlatformName", ""),
                platform_version=info.get("PlatformVersion", ""),
            )
        )
    return sorted(facts, key=lambda f: (f.name, f.instance_id))


@contextmanager
def aws_fleet(clients: Clients) -> Iterator[list[InstanceFacts]]:
    yield read_fleet(clients("ec2"), clients("ssm"))


@contextmanager
def local_fleet(scenario_path: Path) -> Iterator[tuple[list[InstanceFacts], datetime]]:
    """A scenario's fleet, launched on a fresh in-process local cloud with the stack deployed."""
    from fleetpatch_cli.scenario_file import load_scenario

    scenario = load_scenario(scenario_path)  # before the local cloud's imports: seconds
    from localcloud.cloud import LocalCloud
    from localcloud.runner import build_fleet

    with LocalCloud(time_factor=0, start=scenario.start) as cloud:
        cloud.deploy(None, scenario.parameters)
        build_fleet(cloud, scenario)
        # Agents register a little after launch (per the scenario's behaviours).
        cloud.settle(max_seconds=3600)
        yield read_fleet(cloud.client("ec2"), cloud.client("ssm")), scenario.start


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    name: str
    start: str  # how it starts: in the window, or after the gate on ...
    members: list[Placement]
    serving: Serving | None  # the effective serving block; None: patched in place


@dataclass(frozen=True)
class WavePlan:
    name: str
    timezone: str
    runs: list[datetime]
    batches: list[BatchPlan]


def plan(
    policy: FleetPolicy, fleet: Iterable[InstanceFacts], at: datetime, wave: str | None
) -> tuple[list[WavePlan], list[NotPlaced]]:
    placed: list[Placement] = []
    not_placed: list[NotPlaced] = []
    for instance in fleet:
        result = place(policy, instance)
        if isinstance(result, Placement):
            placed.append(result)
        else:
            not_placed.append(result)
    waves = []
    for name, spec in policy.waves.items():
        if wave is not None and name != wave:
            continue
        batches = []
        for index, batch in enumerate(spec.batches):
            gate = spec.gate_of(index)
            start = (
                "in the window"
                if gate is None
                else f"after the gate on {', '.join(spec.gated_batches(index))}"
            )
            members = [p for p in placed if p.wave == name and p.batch_index == index]
            batches.append(BatchPlan(batch.name, start, members, policy.serving_of(name, index)))
        runs = spec.schedule.resolved().next_runs(at, RUNS_SHOWN)
        waves.append(WavePlan(name, spec.schedule.timezone, runs, batches))
    return waves, not_placed


def exception_at(p: Placement, when: datetime | None) -> dict[str, Any] | None:
    """The instance's fleetpatch:skip exception as the wave's next run will read it."""
    value = p.instance.tags.get(SKIP_TAG_KEY)
    if value is None or when is None:
        return None
    found = evaluate(value, when)
    until = None if found.until is None else str(found.until)
    note = found.describe()
    if found.status == "applies":
        note = f"{note} (not patched at this run)"
    return {"status": found.status, "until": until, "reason": found.reason, "note": note}


def _instance_json(stage: str, p: Placement, when: datetime | None = None) -> dict[str, Any]:
    return {
        "instanceId": p.instance.instance_id,
        "name": p.instance.name,
        "operatingSystem": p.operating_system,
        "patchGroup": p.patch_group,
        "tagKey": p.tag_key,
        "environment": p.environment,
        "baseline": f"fleetpatch-{stage}-{baseline_name(p.environment, p.operating_system)}",
        "exception": exception_at(p, when),
    }


def as_json(stage: str, waves: list[WavePlan], not_placed: list[NotPlaced]) -> dict[str, Any]:
    return {
        "waves": [
            {
                "wave": w.name,
                "nextRuns": [
                    {"utc": r.astimezone(UTC).isoformat(), "local": r.isoformat()} for r in w.runs
                ],
                "batches": [
                    {
                        "batch": b.name,
                        "starts": b.start,
                        "instances": [
                            _instance_json(stage, p, w.runs[0] if w.runs else None)
                            for p in b.members
                        ],
                        # As the control plane reads it (the compiled policy's form), or null.
                        "serving": b.serving.runtime().model_dump(mode="json", by_alias=True)
                        if b.serving
                        else None,
                    }
                    for b in w.batches
                ],
            }
            for w in waves
        ],
        "notPatched": [
            {
                "instanceId": n.instance.instance_id,
                "name": n.instance.name,
                "operatingSystem": n.operating_system,
                "patchGroup": n.patch_group,
                "reason": n.reason,
            }
            for n in not_placed
        ],
    }


def as_text(stage: str, waves: list[WavePlan], not_placed: list[NotPlaced]) -> list[str]:
    lines: list[str] = []
    for w in waves:
        lines.append(f"wave {w.name}")
        for run in w.runs:
            lines.append(
                f"  run {run.astimezone(UTC):%Y-%m-%d %H:%M} UTC  "
                f"({run:%a %Y-%m-%d %H:%M %Z} {w.timezone})"
            )
        for number, batch in enumerate(w.batches, start=1):
            members = batch.members
            noun = "instance" if len(members) == 1 else "instances"
            lines.append(f"  batch {number} {batch.name}: {len(members)} {noun}, {batch.start}")
            lines.extend(f"    {line}" for line in serving_lines(batch.serving))
            for p in members:
                baseline = f"fleetpatch-{stage}-{baseline_name(p.environment, p.operating_system)}"
                lines.append(
                    f"    {p.instance.instance_id}  {p.instance.name:<20} "
                    f"{p.operating_system:<24} {p.patch_group}  {baseline}"
                )
                skip = exception_at(p, w.runs[0] if w.runs else None)
                if skip is not None:
                    lines.append(f"      fleetpatch:skip: {skip['note']}")
        lines.append("")
    lines.append(f"not patched by any wave: {len(not_placed)}")
    for n in not_placed:
        lines.append(f"  {n.instance.instance_id}  {n.instance.name:<20} {n.reason}")
    return lines


def _parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def run_plan(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy)
    except InvalidFileError as exc:
        return print_errors(exc)
    if args.wave is not None and args.wave not in policy.waves:
        known = ", ".join(policy.waves) or "none"
        hint = did_you_mean(args.wave, list(policy.waves))
        print(
            f"fleetpatch plan: --wave: no wave {args.wave} (waves: {known}){hint}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    try:
        at = _parse_at(args.at)
    except ValueError:
        print(f"fleetpatch plan: --at: not an ISO date or time: {args.at!r}", file=sys.stderr)
        return EXIT_INVALID
    if args.local_fleet is not None:
        with local_fleet(args.local_fleet) as (fleet, start):
            waves, not_placed = plan(policy, fleet, at or start, args.wave)
    else:
        clients = boto_clients(args)
        with aws_fleet(clients) as fleet:
            waves, not_placed = plan(policy, fleet, at or datetime.now(UTC), args.wave)
        deployed = compare_deployed(clients, args.stage, policy)
        if deployed["differences"]:
            print(
                f"fleetpatch plan: warning: {args.policy} differs from the policy deployed in "
                f"stage {args.stage} ({deployed['parameter']}) at "
                + ", ".join(deployed["differences"])
                + "; this plan follows the local file, the control plane the deployed one",
                file=sys.stderr,
            )
        elif deployed["note"]:
            print(f"fleetpatch plan: note: {deployed['note']}", file=sys.stderr)
        skips = _pending_skips(clients, args.stage, [w.name for w in waves])
        for wave, why in skips.items():
            print(
                f"fleetpatch plan: note: wave {wave}'s next run is skipped, {why}", file=sys.stderr
            )
    if args.json:
        data = as_json(args.stage, waves, not_placed)
        if args.local_fleet is None:
            data["deployedPolicy"] = deployed
            data["skippedNext"] = skips
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(as_text(args.stage, waves, not_placed)))
    return 0


def _pending_skips(clients: Clients, stage: str, waves: list[str]) -> dict[str, str]:
    """Operators' skips of each wave's next run (``wave skip --next``); none if not deployed."""
    try:
        return wave_skip_cmd.pending(clients("dynamodb"), stage, waves)
    except ClientError:
        return {}


def compare_deployed(clients: Clients, stage: str, policy: FleetPolicy) -> dict[str, Any]:
    """The local policy, compiled, against the one deployed in ``stage`` (its SSM parameter)."""
    name = policy_parameter_name(stage)
    ssm = clients("ssm")
    result: dict[str, Any] = {"parameter": name, "matches": None, "differences": [], "note": None}
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        result["note"] = f"no deployed policy {name}: stage {stage} is not deployed here"
        return result
    except ClientError as exc:  # the plan needs no more than the fleet's read-only calls
        code = exc.response.get("Error", {}).get("Code", "")
        result["note"] = f"cannot compare with the deployed policy {name} ({code})"
        return result
    local = json.loads(policy.runtime().model_dump_json(by_alias=True))
    result["differences"] = differences(local, json.loads(value))
    result["matches"] = not result["differences"]
    return result


def differences(local: Any, deployed: Any, path: str = "", limit: int = 5) -> list[str]:
    """The paths (at most ``limit``) where ``local`` and ``deployed`` differ."""
    if isinstance(local, dict) and isinstance(deployed, dict):
        found: list[str] = []
        for key in sorted(set(local) | set(deployed), key=str):
            found += differences(local.get(key), deployed.get(key), f"{path}.{key}".lstrip("."))
            if len(found) >= limit:
                return found[:limit]
        return found
    if isinstance(local, list) and isinstance(deployed, list) and len(local) == len(deployed):
        found = []
        for index, (mine, theirs) in enumerate(zip(local, deployed, strict=True)):
            found += differences(mine, theirs, f"{path}.{index}".lstrip("."))
        return found[:limit]
    return [] if local == deployed else [path or "policy"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what the next windows will patch (read-only)",
        description="Dry run: the next run times, the batches in order (a serving batch with its "
        "drain, budget, health checks, snapshots and hooks), which instances fall "
        "in each batch under which baseline, and which instances no wave patches and why. "
        "Only read-only AWS calls.",
        epilog=examples(
            "fleetpatch plan --local-fleet scenarios/demo.yaml   # no AWS: a simulated fleet",
            "fleetpatch plan --wave prod --region eu-central-1    # your account's fleet",
            "fleetpatch plan --at 2026-12-05T05:00Z --json | jq '.notPatched'",
        ),
    )
    parser.add_argument(
        "--policy", type=Path, default=DEFAULT_POLICY, metavar="FILE", help="the policy file"
    )
    parser.add_argument("--wave", help="only this wave")
    parser.add_argument(
        "--at", metavar="WHEN", help="plan from this date/time (ISO 8601; default: now, UTC)"
    )
    parser.add_argument("--stage", default="default", help="the deployed stage (baseline names)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--local-fleet",
        type=Path,
        metavar="SCENARIO",
        help="plan on a scenario's simulated fleet (local cloud, in-process)",
    )
    source.add_argument(
        "--endpoint-url", metavar="URL", help="an AWS-compatible endpoint, e.g. local up's"
    )
    parser.add_argument("--region", help="AWS region (default: your AWS profile's)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, or the default)")
    parser.set_defaults(func=run_plan)
