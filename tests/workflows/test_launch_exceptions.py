"""A launch honours fleetpatch:skip (issue 21, part 2, "Exceptions").

The real template, ASL and handlers on the local cloud. An instance whose exception applies
is released at once (CONTINUE) without a patch command, the reason in its report; one whose
exception has expired is patched as usual and its report says so. Dates against the
simulated clock, in UTC.
"""

from __future__ import annotations

from datetime import timedelta

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed, states_entered
from tests.workflows.test_gated_wave_gates import patched

SKIP = "fleetpatch:skip"


def test_an_excepted_launch_is_released_unpatched_and_an_expired_one_is_patched(
    deployed: Deployed,
) -> None:
    # Given a covered group launching two instances, tagged before their agents come online:
    # one excepted until tomorrow, one whose exception ended yesterday
    today = deployed.cloud.clock.now().date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    deployed.auto_scaling_group()
    excepted, expired = deployed.scale_out(
        Behaviour(agent_delay_seconds=45), Behaviour(agent_delay_seconds=45)
    )
    ec2 = deployed.cloud.client("ec2")
    ec2.create_tags(
        Resources=[excepted],
        Tags=[{"Key": SKIP, "Value": f"until={tomorrow}; reason=vendor freeze INC-123"}],
    )
    ec2.create_tags(
        Resources=[expired], Tags=[{"Key": SKIP, "Value": f"until={yesterday}; reason=old"}]
    )
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then the excepted one was released (CONTINUE) and never sent a patch command
    run = deployed.execution_for(excepted)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert deployed.lifecycle_result(excepted) == "CONTINUE"
    assert not patched(deployed, [excepted])
    assert "SendPatchCommand" not in states_entered(deployed.history(run))
    report = deployed.report(run["name"])
    assert report["outcome"] == "skipped-by-exception"
    [instance] = report["batches"][0]["instances"]
    assert instance["outcome"] == "skipped-by-exception"
    assert instance["reason"] == f"excepted until {tomorrow}: vendor freeze INC-123"
    assert report["batches"][0]["exceptions"][excepted]["status"] == "applies"
    subjects = [m["subject"] for m in deployed.messages_about(excepted) if m["channel"] == "sns"]
    assert any(
        f"not patched (excepted until {tomorrow}: vendor freeze INC-123)" in s for s in subjects
    ), subjects
    # And the expired one was patched as usual, its report naming the expired exception
    other = deployed.execution_for(expired)
    assert other["status"] == "SUCCEEDED", other.get("cause")
    assert deployed.lifecycle_result(expired) == "CONTINUE"
    assert patched(deployed, [expired])
    [patched_instance] = deployed.report(other["name"])["batches"][0]["instances"]
    assert patched_instance["outcome"] == "patched"
    assert patched_instance["exception"] == f"exception expired on {yesterday}, patched"


def test_an_excepted_launch_is_released_at_once_even_if_its_agent_never_comes_online(
    deployed: Deployed,
) -> None:
    # Given a covered group launching an instance whose agent never reports Online, tagged
    # with an exception that applies (as a launch template tags it)
    tomorrow = deployed.cloud.clock.now().date() + timedelta(days=1)
    deployed.auto_scaling_group()
    [excepted] = deployed.scale_out(Behaviour(never_online=True))
    deployed.cloud.client("ec2").create_tags(
        Resources=[excepted],
        Tags=[{"Key": SKIP, "Value": f"until={tomorrow}; reason=appliance, no agent"}],
    )
    deployed.cloud.settle(max_seconds=6 * 3600)
    # Then it was released (CONTINUE) by its exception, without waiting for the agent
    run = deployed.execution_for(excepted)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert deployed.lifecycle_result(excepted) == "CONTINUE"
    entered = states_entered(deployed.history(run))
    assert "AwaitAgent" not in entered
    assert "SendPatchCommand" not in entered
    assert run["stopDate"] - run["startDate"] < timedelta(minutes=5)
    report = deployed.report(run["name"])
    assert report["outcome"] == "skipped-by-exception"
    [instance] = report["batches"][0]["instances"]
    assert instance["reason"] == f"excepted until {tomorrow}: appliance, no agent"
    # And it neither ended nor extended the group's launch-churn streak
    assert report.get("churn") is None
