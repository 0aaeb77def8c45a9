"""Canaries: the moto 5.2.5 internals localcloud.adapters.elbv2 and the Standby patches of
localcloud.adapters.autoscaling touch.

Each reads moto's module source (unaffected by our patches) or builds its unpatched objects.
If one fails after a moto upgrade, revisit the adapter: the gap it fills may have moved or
closed.
"""

from __future__ import annotations

import inspect

from moto.autoscaling import models as autoscaling_models
from moto.ec2.responses import instances as ec2_instance_responses
from moto.elbv2 import exceptions, models

ELBV2 = inspect.getsource(models)
AUTOSCALING = inspect.getsource(autoscaling_models)


def _source(function_name: str, source: str) -> str:
    start = source.index(f"    def {function_name}(")
    end = source.find("\n    def ", start + 1)
    return source[start:end]


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_backend_methods_we_replace_keep_their_signatures() -> None:
    backend = models.ELBv2Backend
    for name, parameters in (
        ("register_targets", ["self", "target_group_arn", "instances"]),
        ("deregister_targets", ["self", "target_group_arn", "instances"]),
        ("describe_target_health", ["self", "target_group_arn", "targets"]),
        ("notify_terminate_instances", ["self", "instance_ids"]),
        ("delete_target_group", ["self", "target_group_arn"]),
    ):
        assert f"    def {name}(" in ELBV2, name
        assert _parameters(getattr(backend, name)) == parameters, name


def test_moto_reports_every_registered_target_healthy_at_once() -> None:
    # The static answer the simulator replaces: registered -> "healthy", whatever the time.
    health_for = _source("health_for", ELBV2).split("@staticmethod")[0]
    assert health_for.rstrip().endswith(
        'return FakeHealthStatus(t["Id"], t["Port"], self.health_check_port, "healthy")'
    )
    assert "target_group.health_for(target, self.ec2_backend)" in _source(
        "describe_target_health", ELBV2
    )


def test_moto_refuses_to_deregister_a_target_that_is_not_registered() -> None:
    # AWS returns successfully; the adapter replaces deregister_targets for that.
    assert "raise InvalidTargetError()" in _source("deregister", ELBV2)
    assert 'self.deregistered_targets[target["Id"]] = t' in _source("deregister", ELBV2)


def test_moto_refuses_to_register_a_target_that_is_not_running() -> None:
    register = _source("register", ELBV2)
    assert 'raise TargetNotRunning(instance_id=target["Id"])' in register
    assert exceptions.TargetNotRunning("i-1").code == "InvalidTarget"


def test_ec2_terminate_instances_notifies_elbv2() -> None:
    source = inspect.getsource(ec2_instance_responses)
    assert "elbv2_backends[self.current_account][self.region].notify_terminate_instances(" in (
        source
    )


def test_target_groups_carry_what_the_adapter_reads() -> None:
    group = models.FakeTargetGroup("web", "123456789012", "eu-central-1", "vpc-1", "HTTP", "80")
    assert group.attributes["deregistration_delay.timeout_seconds"] == 300
    assert (group.health_check_interval_seconds, group.healthy_threshold_count) == (30, "5")
    assert group.unhealthy_threshold_count == "2"
    assert group.targets == {}
    assert group.deregistered_targets == {}
    assert group.name == "web"
    assert group.port == "80"
    assert group.health_check_port == "traffic-port"
    assert group.arn.startswith("arn:aws:elasticloadbalancing:eu-central-1:123456789012:")
    assert exceptions.TargetGroupNotFoundError().code == "TargetGroupNotFound"


def test_health_status_is_built_from_six_values() -> None:
    assert _parameters(models.FakeHealthStatus.__init__) == [
        "self",
        "instance_id",
        "port",
        "health_port",
        "status",
        "reason",
        "description",
    ]
    status = models.FakeHealthStatus("i-1", "80", "traffic-port", "draining", "r", "d")
    assert status.target == {"Id": "i-1", "Port": "80"}
    assert status.target_health == {"State": "draining", "Reason": "r", "Description": "d"}


def test_moto_standby_is_immediate_unvalidated_and_ignores_target_groups() -> None:
    backend = autoscaling_models.AutoScalingBackend
    assert _parameters(backend.enter_standby_instances) == [
        "self",
        "group_name",
        "instance_ids",
        "should_decrement",
    ]
    assert _parameters(backend.exit_standby_instances) == ["self", "group_name", "instance_ids"]
    enter = _source("enter_standby_instances", AUTOSCALING)
    assert 'instance_state.lifecycle_state = "Standby"' in enter
    assert "ValidationError" not in enter
    assert "deregister" not in enter
    leave = _source("exit_standby_instances", AUTOSCALING)
    assert 'instance_state.lifecycle_state = "InService"' in leave
    assert "group.desired_capacity += 1" in leave
    for activity in (
        autoscaling_models.EnterStandbyActivity,
        autoscaling_models.ExitStandbyActivity,
    ):
        assert _parameters(activity.__init__) == ["self", "instance", "original_capacity"]


def test_moto_registers_every_member_of_a_group_in_its_target_groups() -> None:
    update = _source("update_attached_target_groups", AUTOSCALING)
    assert "group_instance_ids = {state.instance.id for state in group.instance_states}" in update
    assert "self.elbv2_backend.register_targets(target_group.arn, (asg_targets))" in update
    assert _parameters(autoscaling_models.AutoScalingBackend.update_attached_target_groups) == [
        "self",
        "group_name",
    ]
    assert "self.autoscaling_backend.update_attached_target_groups(self.name)" in _source(
        "set_desired_capacity", AUTOSCALING
    )
    assert "self.target_group_arns = target_group_arns" in AUTOSCALING
    assert "self.elbv2_backend: ELBv2Backend = elbv2_backends" in AUTOSCALING
