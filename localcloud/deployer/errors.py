"""What a failed deploy raises, beyond the template errors of :mod:`localcloud.intrinsics`."""

from __future__ import annotations


class DeployError(Exception):
    """A resource failed to create (CloudFormation's CREATE_FAILED), with the AWS error."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id} ({resource_type}) failed to create: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
