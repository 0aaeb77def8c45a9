"""``fleetpatch local up`` driven with the real AWS CLI, as docs/getting-started.md shows it.

The local cloud runs in a subprocess (``fleetpatch local up --scenario scenarios/sandbox.yaml``
on a free port); every call below is the ``aws`` command of the tool venv (``make awscli``,
which ``make workflows`` runs first), in its own process, over HTTP. An operator scales the
group out and watches the new instance held by the launch hook, patched and released.

The simulated clock runs at 0.02 real seconds per simulated second: the agent's 30 s, the
patch command's minutes and the report's wait take a few real seconds, while each Lambda's
real run time (tenths of a second) stays far below the simulated timeouts it counts against.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import REPO_ROOT

AWS = REPO_ROOT / ".tools" / "awscli" / "bin" / "aws"
FLEETPATCH = Path(sys.executable).with_name("fleetpatch")
SCENARIO = REPO_ROOT / "scenarios" / "sandbox.yaml"
GROUP = "web-test"
TIME_FACTOR = "0.02"
# Bounds on real time (the machine may be busy): the deploy, then the patch of one launch.
STARTUP_SECONDS = 240
RELEASE_SECONDS = 240

pytestmark = pytest.mark.skipif(
    not AWS.exists(),
    reason=f"the AWS CLI tool venv is missing ({AWS}): run `make awscli` (make workflows does)",
)


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    endpoint: str
    printed: queue.Queue[str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> list[str]:
        """Every line local up printed so far (the banner, then the timeline)."""
        while not self.printed.empty():
            self.lines.append(self.printed.get())
        return self.lines

    def aws(self, *arguments: str) -> Any:
        """One AWS CLI command against the local cloud; its JSON output."""
        done = subprocess.run(
            [str(AWS), "--endpoint-url", self.endpoint, "--output", "json", *arguments],
            capture_output=True,
            text=True,
            timeout=120,
            env=_environment(),
            check=False,
        )
        assert done.returncode == 0, f"aws {' '.join(arguments)}: {done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None


def _environment() -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k.lower() not in {"http_proxy", "https_proxy"}
    }
    return {
        **keep,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "NO_PROXY": "127.0.0.1,localhost",
        "AWS_PAGER": "",
    }


def _read(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


@pytest.fixture
def local_up(request: pytest.FixtureRequest) -> Iterator[LocalUp]:
    """``local up`` with the sandbox scenario (and the test's ``indirect`` arguments)."""
    extra: tuple[str, ...] = tuple(getattr(request, "param", ()))
    process = subprocess.Popen(
        [
            str(FLEETPATCH),
            "local",
            "up",
            "--port",
            "0",
            "--scenario",
            str(SCENARIO),
            *(extra if "--time-factor" in extra else ("--time-factor", TIME_FACTOR, *extra)),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_environment(),
    )
    output: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read, args=(process.stdout, output), daemon=True).start()
    lines: list[str] = []
    endpoint = None
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while "Serving until Ctrl-C." not in lines[-1:]:
            assert process.poll() is None, "\n".join(lines)
            try:
                line = output.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"local up did not serve within {STARTUP_SECONDS} s:\n" + "\n".join(lines)
                )
            lines.append(line.split(" The timeline")[0] if line.startswith("Serving") else line)
            if found := re.match(r"\s+endpoint\s+(http://127\.0\.0\.1:\d+)$", line):
                endpoint = found.group(1)
        assert endpoint, "\n".join(lines)
        yield LocalUp(process, endpoint, output, lines)
    finally:
        # SIGTERM (kill), which stops it as Ctrl-C does: a child may inherit an ignored
        # SIGINT (a background job, a test worker); then whatever it printed meanwhile.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        while not output.empty():
            lines.append(output.get())
    assert process.returncode == 0, "\n".join(lines[-20:])
    assert lines[-1] == "stopped"


def _wait_for(what: str, check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(2)


def test_scale_out_with_the_aws_cli_and_see_the_instance_patched_and_released(
    local_up: LocalUp,
) -> None:
    aws = local_up.aws
    # Given the sandbox's stack, visible to CloudFormation, and its fleet and images
    [stack] = aws("cloudformation", "describe-stacks", "--stack-name", "fleetpatch-local")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    machine = outputs["PatchNewInstanceStateMachineArn"]
    banner = "\n".join(local_up.lines)
    assert re.search(r"AMAZON_LINUX_2023\s+ami-[0-9a-f]{17}", banner)
    [group] = aws(
        "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", GROUP
    )["AutoScalingGroups"]
    assert group["DesiredCapacity"] == 0
    # ... and every SSM call an operator makes about windows answers
    windows = aws("ssm", "describe-maintenance-windows")["WindowIdentities"]
    window = next(w["WindowId"] for w in windows if w["Name"] == "fleetpatch-default-wave-test")
    for command in (
        "describe-maintenance-window-schedule",
        "describe-maintenance-window-executions",
        "describe-maintenance-window-tasks",
        "describe-maintenance-window-targets",
    ):
        assert aws("ssm", command, "--window-id", window) is not None, command
    for_target = aws(
        "ssm",
        "describe-maintenance-windows-for-target",
        "--resource-type",
        "INSTANCE",
        "--targets",
        "Key=tag:Patch Group,Values=patch_test_0600_batch_1",
    )
    assert for_target["WindowIdentities"] == []  # the waves' windows register no targets

    # When the operator scales the group out by one
    aws(
        "autoscaling",
        "set-desired-capacity",
        "--auto-scaling-group-name",
        GROUP,
        "--desired-capacity",
        "1",
    )

    # Then a launch run patches the new instance and releases it (CONTINUE)
    def finished() -> list[dict[str, Any]]:
        runs = aws("stepfunctions", "list-executions", "--state-machine-arn", machine)
        return [r for r in runs["executions"] if r["status"] != "RUNNING"]

    [run] = _wait_for("the launch run", finished, RELEASE_SECONDS)
    execution = aws("stepfunctions", "describe-execution", "--execution-arn", run["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["lifecycleResult"] == "CONTINUE"
    [instance] = aws("autoscaling", "describe-auto-scaling-instances")["AutoScalingInstances"]
    assert instance["LifecycleState"] == "InService"
    [state] = aws(
        "ssm", "describe-instance-patch-states", "--instance-ids", instance["InstanceId"]
    )["InstancePatchStates"]
    assert state["InstalledCount"] > 0
    assert state["MissingCount"] == state["FailedCount"] == 0

    # And the timeline streamed it, the Lambda logs are in CloudWatch Logs
    outcome = re.compile(r"lambda\s+fleetpatch-default-launch-outcome: .*lifecycleResult=CONTINUE")
    _wait_for(
        "the timeline's launch-outcome line",
        lambda: outcome.search("\n".join(local_up.output())),
        30,
    )
    ended = re.compile(rf"run\s+launch run {run['name']}: SUCCEEDED")
    _wait_for("the timeline's run line", lambda: ended.search("\n".join(local_up.output())), 30)
    group_name = "/aws/lambda/fleetpatch-default-launch-outcome"
    messages = _wait_for(
        "the launch-outcome function's logs",
        lambda: aws("logs", "filter-log-events", "--log-group-name", group_name)["events"],
        30,
    )
    assert messages[0]["message"].startswith("START RequestId: ")
    # And the run's report reached the e-mail queue
    queue_url = re.search(r"e-mail\s+(\S+)", banner)
    assert queue_url, banner

    def report() -> list[dict[str, Any]]:
        received = aws("sqs", "receive-message", "--queue-url", queue_url.group(1))
        return (received or {}).get("Messages", [])

    [message] = _wait_for("the launch report e-mail", report, 60)
    assert instance["InstanceId"] in json.loads(message["Body"])["Subject"]


# 06:00 in Zurich on the first Saturday of December 2026 is when the test wave's window
# opens (policy/fleet.yaml): start half an hour before (18 real seconds at 0.01 real s per
# simulated s, time for the first AWS CLI calls on a busy machine). The wave's half hour
# takes about 20 real seconds.
@pytest.mark.parametrize(
    "local_up", [("--start", "2026-12-05T04:30:00Z", "--time-factor", "0.01")], indirect=True
)
def test_a_window_opens_on_its_schedule_and_every_window_call_answers(local_up: LocalUp) -> None:
    aws = local_up.aws
    # Given the test wave's window, next due at 06:00 Zurich time
    windows = aws("ssm", "describe-maintenance-windows")["WindowIdentities"]
    window = next(w["WindowId"] for w in windows if w["Name"] == "fleetpatch-default-wave-test")
    [upcoming, *_] = aws("ssm", "describe-maintenance-window-schedule", "--window-id", window)[
        "ScheduledWindowExecutions"
    ]
    assert upcoming["ExecutionTime"] == "2026-12-05T05:00Z"
    assert aws("ssm", "describe-maintenance-window-tasks", "--window-id", window)["Tasks"]

    # When the simulated clock reaches it, Then it runs, and its execution can be read
    def ended() -> list[dict[str, Any]]:
        found = aws("ssm", "describe-maintenance-window-executions", "--window-id", window)
        return [
            e for e in found["WindowExecutions"] if e["Status"] not in {"PENDING", "IN_PROGRESS"}
        ]

    [execution] = _wait_for("the window's execution", ended, 120)
    assert execution["Status"] == "SUCCESS"
    execution_id = execution["WindowExecutionId"]
    got = aws("ssm", "get-maintenance-window-execution", "--window-execution-id", execution_id)
    [task_id] = got["TaskIds"]
    [task] = aws(
        "ssm", "describe-maintenance-window-execution-tasks", "--window-execution-id", execution_id
    )["WindowExecutionTaskIdentities"]
    assert (task["TaskExecutionId"], task["TaskType"]) == (task_id, "LAMBDA")
    [invocation] = aws(
        "ssm",
        "describe-maintenance-window-execution-task-invocations",
        "--window-execution-id",
        execution_id,
        "--task-id",
        task_id,
    )["WindowExecutionTaskInvocationIdentities"]
    assert invocation["Status"] == "SUCCESS"

    # And the window's task started the test wave, which patches the sandbox's test fleet
    [stack] = aws("cloudformation", "describe-stacks", "--stack-name", "fleetpatch-local")["Stacks"]
    machine = next(
        o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "GatedWaveStateMachineArn"
    )

    def wave_done() -> list[dict[str, Any]]:
        runs = aws("stepfunctions", "list-executions", "--state-machine-arn", machine)
        return [r for r in runs["executions"] if r["status"] != "RUNNING"]

    [run] = _wait_for("the test wave", wave_done, 180)
    assert run["status"] == "SUCCEEDED"
    wave = aws("stepfunctions", "describe-execution", "--execution-arn", run["executionArn"])
    assert json.loads(wave["output"])["outcome"] == "completed"
