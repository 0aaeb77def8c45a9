"""Canaries: the moto 5.2.5 internals localcloud.adapters.ec2 touches, and the unpatched
behaviour it compensates for. If one fails after a moto upgrade, revisit
localcloud/adapters/ec2.py (and localcloud/adapters/ssm_documents.py for the SSM documents).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "eu-central-1"


@pytest.fixture
def ec2() -> Iterator[Any]:
    # plain moto: no LocalCloud, nothing patched (unless a cloud ran earlier in this process,
    # in which case the patched methods see no running cloud and answer as moto)
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _backend() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends["123456789012"][REGION]


def _launch(ec2: Any) -> str:
    image = ec2.register_image(Name="canary")["ImageId"]
    return str(
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    )


def _unpatched(owner: type, name: str) -> Any:
    method = owner.__dict__[name]
    return getattr(method, "_fleetpatch_original", method)


def test_the_methods_replaced_and_wrapped_are_where_the_adapter_expects_them() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses import EC2Response
    from moto.ec2.responses.instances import InstanceResponse

    reboot = _unpatched(InstanceBackend, "reboot_instances")
    assert list(inspect.signature(reboot).parameters) == ["self", "instance_ids"]
    assert "get_multi_instances_by_id" in inspect.getsource(reboot)
    assert list(inspect.signature(_unpatched(EBSBackend, "create_snapshot")).parameters)[:2] == [
        "self",
        "volume_id",
    ]
    assert list(inspect.signature(_unpatched(EBSBackend, "delete_snapshot")).parameters) == [
        "self",
        "snapshot_id",
    ]
    assert "create_snapshot(" in inspect.getsource(_unpatched(EBSBackend, "create_snapshots"))
    status = inspect.getsource(_unpatched(InstanceResponse, "describe_instance_status"))
    assert "ec2_backend.describe_instance_status(" in status
    assert "_filters_from_querystring" in status
    # the operations added are still missing from moto
    for added in ("create_replace_root_volume_task", "describe_replace_root_volume_tasks"):
        method = getattr(EC2Response, added, None)
        assert method is None or getattr(method, "_fleetpatch_ec2", False), added


def test_moto_reboots_a_stopped_instance_into_running(ec2: Any) -> None:
    from moto.ec2.models.instances import Instance

    # What RebootInstances compensates for: moto's Instance.reboot makes it running.
    assert 'self._state.name = "running"' in inspect.getsource(Instance.reboot)


def test_the_instance_and_volume_attributes_read(ec2: Any) -> None:
    instance_id = _launch(ec2)
    instance = _backend().get_instance(instance_id)
    assert instance.state == "running"
    assert instance.state_code == 16
    assert instance.placement.zone == f"{REGION}a"
    assert instance.root_device_name == "/dev/sda1"
    block = dict(instance.get_block_device_mapping)[instance.root_device_name]
    volume = _backend().get_volume(block.volume_id)
    assert volume.attachment.instance is instance
    assert volume.attachment.device == instance.root_device_name


def test_snapshots_of_plain_moto_are_complete_at_once_on_the_wall_clock(ec2: Any) -> None:
    from moto.ec2.models.elastic_block_store import Snapshot

    instance_id = _launch(ec2)
    [created] = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance_id},
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}],
    )["Snapshots"]
    assert created["Tags"] == [{"Key": "k", "Value": "v"}]  # TagSpecifications kept
    snapshot = _backend().get_snapshot(created["SnapshotId"])
    assert snapshot.id == created["SnapshotId"]
    assert snapshot.volume.id == created["VolumeId"]
    assert hasattr(snapshot, "start_time")
    # moto sets status in __init__ (the adapter's property keeps it through a setter)
    assert 'self.status = "completed"' in inspect.getsource(Snapshot.__init__)
    progress = inspect.getattr_static(Snapshot, "progress")
    assert isinstance(progress, property)
    [found] = ec2.describe_snapshots(Filters=[{"Name": "tag:k", "Values": ["v"]}])["Snapshots"]
    assert found["State"] == "completed"


def test_the_ec2_error_and_tag_specification_helpers() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses._base_response import EC2BaseResponse

    error = EC2ClientError("IncorrectState", "why")
    assert (error.code, error.message) == ("IncorrectState", "why")
    for name in ("_parse_tag_specification", "error_on_dryrun", "_get_bool_param"):
        assert callable(getattr(EC2BaseResponse, name)), name


def test_the_ssm_document_store_read_for_command_documents() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        content = {"schemaVersion": "2.2", "mainSteps": [{"action": "aws:runShellScript"}]}
        ssm.create_document(Name="hook", Content=json.dumps(content), DocumentType="Command")
        from moto.ssm.models import ssm_backends

        backend = ssm_backends["123456789012"][REGION]
        document = backend._get_documents("hook").get_default_version()
        assert (document.document_type, document.content_json) == ("Command", content)
        with pytest.raises(Exception, match="does not exist") as caught:
            backend._get_documents("missing")
        assert type(caught.value).__name__ == "InvalidDocument"


def test_the_fleet_launches_with_the_arguments_moto_runinstances_handler_passes() -> None:
    # localcloud.sim.fleet._run_instances calls the backend as moto's RunInstances handler
    # does (without serializing the reservation): the handler's keyword arguments must still
    # be the ones it passes, and the backend must still take them.
    import re

    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses.instances import InstanceResponse

    from localcloud.sim import fleet

    handler = inspect.getsource(InstanceResponse.run_instances)
    passed = set(re.findall(r'^\s+"(\w+)":', handler.split("kwargs = {", 1)[1], re.MULTILINE))
    ours = inspect.getsource(fleet._run_instances)
    given = set(re.findall(r"^\s+(\w+)=", ours.split("backend.run_instances(", 1)[1], re.M))
    assert passed == given
    assert "self.ec2_backend.run_instances(" in handler
    assert list(inspect.signature(InstanceBackend.run_instances).parameters)[:5] == [
        "self",
        "image_id",
        "count",
        "user_data",
        "security_group_names",
    ]


def test_a_fleet_launch_tags_its_instances_as_runinstances_does() -> None:
    from localcloud.cloud import LocalCloud

    with LocalCloud() as cloud:
        assert cloud.fleet is not None
        ids = cloud.fleet.launch("UBUNTU", tags={"Patch Group": "g1", "Name": "web"}, count=2)
        found = cloud.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
        instances = [i for r in found for i in r["Instances"]]
        assert sorted(i["InstanceId"] for i in instances) == sorted(ids)
        for instance in instances:
            assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {
                "Patch Group": "g1",
                "Name": "web",
            }
            assert instance["InstanceType"] == "t3.micro"
            assert instance["ImageId"] == cloud.fleet.image_id("UBUNTU")
