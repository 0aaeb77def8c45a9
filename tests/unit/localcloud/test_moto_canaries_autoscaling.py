"""Canaries: the moto 5.2.5 Auto Scaling internals localcloud.adapters.autoscaling patches.

Each reads moto's module source (unaffected by our patches) or its unpatched classes. If one
fails after a moto upgrade, revisit the extension: the gap it fills may have moved or closed.
"""

from __future__ import annotations

import inspect

from moto.autoscaling import models, responses


def _source(function_name: str, source: str) -> str:
    start = source.index(f"    def {function_name}(")
    end = source.find("\n    def ", start + 1)
    return source[start:end]


MODELS = inspect.getsource(models)
RESPONSES = inspect.getsource(responses)


def test_groups_launch_only_through_replace_autoscaling_group_instances() -> None:
    # The wrapper sees every launch: scale-out, initial capacity, replacement.
    assert (
        "def replace_autoscaling_group_instances(\n        self, count_needed: int, "
        "propagated_tags: dict[str, str]\n    ) -> None:" in MODELS
    )
    assert MODELS.count("self.replace_autoscaling_group_instances(") == 1  # set_desired_capacity
    assert MODELS.count("autoscaling_group.replace_autoscaling_group_instances(") == 1  # terminate
    launch = _source("replace_autoscaling_group_instances", MODELS)
    assert "self.instance_states.append(" in launch
    assert "InstanceState(" in launch  # created InService (the default we override)


def test_new_instances_default_to_in_service_and_only_in_service_counts() -> None:
    assert 'lifecycle_state: str = "InService"' in MODELS
    assert (
        'return [x for x in self.instance_states if x.lifecycle_state == "InService"]'
        in _source("active_instances", MODELS)
    )
    assert "current_instance_count = len(self.active_instances())" in _source(
        "set_desired_capacity", MODELS
    )


def test_lifecycle_hooks_keep_no_metadata_and_a_fixed_global_timeout() -> None:
    hook = models.LifecycleHook("h", "g", "autoscaling:EC2_INSTANCE_LAUNCHING", 60, None)
    assert hook.global_timeout == 172800
    assert not hasattr(hook, "notification_metadata")
    assert {"name", "lifecycle_transition", "heartbeat_timeout", "default_result"} <= set(
        vars(hook)
    )
    put = _source("put_lifecycle_hook", RESPONSES)
    assert "NotificationMetadata" not in put
    assert "LifecycleHookSpecificationList" not in RESPONSES


def test_lifecycle_actions_are_not_implemented() -> None:
    assert "def complete_lifecycle_action" not in RESPONSES
    assert "def record_lifecycle_action_heartbeat" not in RESPONSES


def test_warm_pools_are_configuration_only() -> None:
    assert '"Instances": []' in _source("describe_warm_pool", RESPONSES)
    warm_pool = models.FakeWarmPool(None, None, None, None)
    assert (warm_pool.min_size, warm_pool.pool_state) == (0, "Stopped")
    assert warm_pool.max_group_prepared_capacity is None
    assert "self.warm_pool = FakeWarmPool(" in _source("put_warm_pool", MODELS)


def test_the_backend_methods_we_wrap_keep_their_signatures() -> None:
    backend = models.AutoScalingBackend
    assert list(inspect.signature(backend.describe_auto_scaling_instances).parameters) == [
        "self",
        "instance_ids",
    ]
    assert list(inspect.signature(backend.delete_warm_pool).parameters) == ["self", "group_name"]
    assert list(inspect.signature(backend.describe_lifecycle_hooks).parameters) == [
        "self",
        "as_name",
        "lifecycle_hook_names",
    ]
    assert list(inspect.signature(backend.create_lifecycle_hook).parameters) == [
        "self",
        "name",
        "as_name",
        "transition",
        "timeout",
        "result",
    ]
    group = models.FakeAutoScalingGroup
    assert list(inspect.signature(group.set_desired_capacity).parameters)[:2] == [
        "self",
        "new_capacity",
    ]
    assert "self.warm_pool: FakeWarmPool | None = None" in MODELS
    assert "self.instance_states: list[InstanceState] = []" in MODELS


def test_suspended_processes_are_stored_but_never_stop_a_launch() -> None:
    # The extension reads ``suspended_processes`` and wraps ``resume_processes``.
    assert "def suspended_processes(self) -> list[dict[str, str]]:" in MODELS
    assert '{"ProcessName": process, "SuspensionReason": ""}' in MODELS
    assert list(inspect.signature(models.AutoScalingBackend.resume_processes).parameters) == [
        "self",
        "group_name",
        "scaling_processes",
    ]
    for launching in ("set_desired_capacity", "replace_autoscaling_group_instances"):
        assert "suspended" not in _source(launching, MODELS)
