"""``fleetpatch policy``: check, render and describe the fleet patch policy file.

``policy check [FILE]``   validate; a one-screen summary, or every error as
                          ``FILE:LINE: path.to.field: message`` and exit 2
``policy render [FILE]``  write the nested stack template.yaml deploys (``--check``: exit 1
                          when the committed output is stale)
``policy schema``         write the JSON Schema editors validate the file with
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.policy import FleetPolicy
from fleetpatch_authoring.schema import json_schema
from fleetpatch_authoring.serving import Serving
from fleetpatch_authoring.validate import unused_patch_groups
from fleetpatch_authoring.validate import validate_policy as validate_policy_data
from fleetpatch_authoring.waves import Gate
from fleetpatch_authoring.yamlfile import InvalidFileError, file_errors, read_yaml
from fleetpatch_cli.parser import examples

EXIT_INVALID = 2
EXIT_STALE = 1
DEFAULT_POLICY = Path("policy/fleet.yaml")
DEFAULT_RENDERED = Path("policy/rendered/fleet-policy.yaml")
DEFAULT_SCHEMA = Path("policy/fleet.schema.json")


def load_policy(path: Path) -> FleetPolicy:
    """Read and validate a policy file; :class:`InvalidFileError` has every problem's line."""
    data, lines = read_yaml(path)
    try:
        return validate_policy_data(data)
    except InvalidPolicyError as exc:
        raise InvalidFileError(
            file_errors(path, lines, [(p.loc, p.path, p.message) for p in exc.problems])
        ) from exc


def print_errors(exc: InvalidFileError) -> int:
    """Every problem of an invalid file on stderr, then their count; the exit code."""
    for error in exc.errors:
        print(str(error), file=sys.stderr)
    count = len(exc.errors)
    print(f"{count} error{'s' if count != 1 else ''}", file=sys.stderr)
    return EXIT_INVALID


def summary(policy: FleetPolicy, path: Path, now: datetime) -> list[str]:
    """The one-screen summary ``policy check`` prints for a valid policy."""
    lines = [f"{path}: valid (policy version {policy.version})", "", "environments:"]
    for name, env in policy.environments.items():
        delay = (
            f"approval after {env.approve_after_days} days"
            if env.approve_after_days is not None
            else "approval per rule"
        )
        lines.append(
            f"  {name}: {len(env.baselines)} baselines ({', '.join(env.baselines)}), {delay}; "
            f"patch groups {', '.join(env.patch_groups)}"
        )
    lines += ["", "waves:"]
    for name, wave in policy.waves.items():
        sched = wave.schedule
        runs = sched.resolved().next_runs(now, 1)
        nxt = (
            f"next {runs[0]:%Y-%m-%d %H:%M %Z} ({runs[0].astimezone(UTC):%H:%M} UTC)"
            if runs
            else "no future run"
        )
        offset = f" +{sched.offset_days}d" if sched.offset_days else ""
        promote = f", installs what {wave.promote_from} installed" if wave.promote_from else ""
        lines.append(
            f"  {name}: {sched.cron}{offset} {sched.timezone}, {wave.window.duration_hours} h "
            f"window; {nxt}{promote}"
        )
        for index, batch in enumerate(wave.batches):
            gate = wave.gate_of(index)
            how = "in the window" if gate is None else _gate_text(wave.gated_batches(index), gate)
            lines.append(
                f"    {index + 1}. {batch.name} [{', '.join(batch.patch_groups)}] "
                f"{batch.operation or wave.operation}, concurrency {batch.max_concurrency}, "
                f"errors {batch.max_errors}{_serving_text(policy.serving_of(name, index))}; {how}"
            )
    launch = policy.launch
    groups = ", ".join(launch.auto_scaling_groups.names) or "any group"
    if launch.auto_scaling_groups.tags:
        groups += " or tagged " + ", ".join(
            f"{k}={v}" for k, v in launch.auto_scaling_groups.tags.items()
        )
    lines += [
        "",
        f"launch: hooks {', '.join(launch.lifecycle_hooks)} on {groups}; instances tagged "
        f"{launch.instances.tag_key}={launch.instances.tag_value}; agent wait "
        f"{launch.agent_timeout_minutes} min; on failure {launch.on_failure}; "
        f"churn: {launch.churn.action} after {launch.churn.after} failures in a row",
        "compliance: digest every "
        f"{policy.compliance.digest_minutes} min; remediation "
        + ", ".join(
            f"{env} {policy.compliance.remediation.get(env, 'never')}"
            for env in policy.environments
        ),
        "notifications: SNS"
        + (
            f" (+ {len(policy.notifications.sns.email)} e-mail)"
            if policy.notifications.sns.email
            else ""
        )
        + (
            f", Slack via secret {policy.notifications.slack.webhook_secret}"
            if policy.notifications.slack
            else ""
        ),
    ]
    unused = unused_patch_groups(policy)
    if unused:
        lines += ["", f"note: in no wave (patched on launch only): {', '.join(unused)}"]
    return lines


def _serving_text(serving: Serving | None) -> str:
    if serving is None:
        return ""
    return f", serving (at most {serving.budget.max_unavailable} out of service)"


def _gate_text(checked: list[str], gate: Gate) -> str:
    rules = []
    if gate.max_failed is not None:
        rules.append(f"<= {gate.max_failed} failed")
    if gate.max_failed_percent is not None:
        rules.append(f"<= {gate.max_failed_percent:g}% failed")
    if gate.require_compliant:
        rules.append("all compliant")
    if gate.min_instances is not None:
        rules.append(f">= {gate.min_instances} patched")
    if gate.allow_empty:
        rules.append("may be empty")
    if gate.alarms:
        rules.append(f"alarms OK: {', '.join(gate.alarms)}")
    if gate.bake_minutes:
        rules.append(f"after {gate.bake_minutes} min bake")
    return f"gate on {', '.join(checked)}: {', '.join(rules) or 'no conditions'}"


def check(path: Path, now: datetime | None = None, *, as_json: bool = False) -> int:
    try:
        policy = load_policy(path)
    except InvalidFileError as exc:
        if not as_json:
            return print_errors(exc)
        errors = [
            {"file": e.path, "line": e.line, "field": e.field, "message": e.message}
            for e in exc.errors
        ]
        print(json.dumps({"file": str(path), "valid": False, "errors": errors}, indent=2))
        return EXIT_INVALID
    at = now or datetime.now(UTC)
    if as_json:
        print(json.dumps(summary_data(policy, path, at), indent=2))
    else:
        print("\n".join(summary(policy, path, at)))
    return 0


def summary_data(policy: FleetPolicy, path: Path, now: datetime) -> dict[str, object]:
    """``policy check --json`` of a valid policy: the policy as read, with its next runs."""
    return {
        "file": str(path),
        "valid": True,
        "nextRuns": {
            name: [run.isoformat() for run in wave.schedule.resolved().next_runs(now, 1)]
            for name, wave in policy.waves.items()
        },
        "inNoWave": unused_patch_groups(policy),
        "policy": policy.model_dump(mode="json", exclude_none=True),
    }


def render(path: Path, output: Path, *, check_only: bool) -> int:
    from fleetpatch_authoring.render import RenderError, render_policy

    try:
        policy = load_policy(path)
        text = render_policy(policy, source=path.as_posix(), source_text=path.read_text())
    except InvalidFileError as exc:
        return print_errors(exc)
    except RenderError as exc:
        print(f"{path}: cannot render: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return _write_or_compare(output, text, check_only=check_only, what=f"rendered from {path}")


def schema(output: Path, *, check_only: bool) -> int:
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    return _write_or_compare(output, text, check_only=check_only, what="the policy JSON Schema")


def _write_or_compare(output: Path, text: str, *, check_only: bool, what: str) -> int:
    current = output.read_text() if output.exists() else None
    if check_only:
        if current != text:
            print(
                f"{output} is stale: it is not {what}. Run `make policy` and commit it.",
                file=sys.stderr,
            )
            return EXIT_STALE
        print(f"{output} is up to date")
        return 0
    if current != text:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {output}")
    else:
        print(f"{output} unchanged")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = subparsers.add_parser(
        "policy",
        help="check and render the fleet patch policy",
        description="Check the fleet patch policy file, render the stack it deploys, write "
        "its JSON Schema for editors.",
        epilog=examples(
            "fleetpatch policy check",
            "fleetpatch policy render --check     # exit 1 when the committed output is stale",
            "fleetpatch policy schema",
        ),
    )
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    check_parser = actions.add_parser(
        "check",
        help="validate the policy file and summarise it",
        description="Validate the policy file. Prints a summary and exits 0 when valid; prints "
        "every problem as FILE:LINE: path.to.field: message and exits 2 when not.",
        epilog=examples(
            "fleetpatch policy check",
            "fleetpatch policy check policy/examples/serving.yaml --json",
        ),
    )
    check_parser.add_argument(
        "file", nargs="?", type=Path, default=DEFAULT_POLICY, metavar="FILE", help="policy file"
    )
    check_parser.add_argument(
        "--json", action="store_true", help="print one JSON object (the errors too, exit 2)"
    )
    check_parser.set_defaults(func=lambda a: check(a.file, as_json=a.json))

    render_parser = actions.add_parser(
        "render",
        help="render the policy into the CloudFormation stack template.yaml deploys",
        description="Write the nested stack (baselines, maintenance windows, the compiled "
        "policy) that template.yaml deploys. With --check, write nothing and exit 1 if the "
        "file on disk differs from what the policy renders to.",
        epilog=examples("fleetpatch policy render", "fleetpatch policy render --check"),
    )
    render_parser.add_argument(
        "file", nargs="?", type=Path, default=DEFAULT_POLICY, metavar="FILE", help="policy file"
    )
    render_parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_RENDERED, metavar="FILE", help="stack file"
    )
    render_parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    render_parser.set_defaults(func=lambda a: render(a.file, a.output, check_only=a.check))

    schema_parser = actions.add_parser(
        "schema",
        help="write the policy file's JSON Schema (for editors)",
        description="Write the JSON Schema of the policy file. With --check, exit 1 if stale.",
        epilog=examples("fleetpatch policy schema", "fleetpatch policy schema --check"),
    )
    schema_parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_SCHEMA, metavar="FILE", help="schema file"
    )
    schema_parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    schema_parser.set_defaults(func=lambda a: schema(a.output, check_only=a.check))
