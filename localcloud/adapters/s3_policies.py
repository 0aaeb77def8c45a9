"""Bucket policies on the local cloud: stored whole, decided by the IAM enforcer.

moto checks a bucket's policy on object requests itself (``FakeBucket.get_permission``, from
``S3Response``) with its own evaluator, which ignores ``Condition``: the usual
"deny unless TLS" statement would deny every request, so the deployer used to store only a
policy's unconditional statements. Then nothing local saw the rest: a member account's
report copy to the organization's bucket (issue 22) was refused as if the bucket had no
policy, because its only Allow has an ``aws:PrincipalOrgID`` condition.

The local cloud's IAM enforcer (localcloud.core.iam) evaluates bucket policies as AWS does,
conditions and policy variables included, together with the caller's identity policies and
across accounts. So a bucket keeps its whole policy (GetBucketPolicy returns what was put,
as S3 does) and moto's own check answers "neutral": the decision is the enforcer's.

moto internals (canary in tests/unit/localcloud/test_moto_canaries_core.py):
``moto.s3.models.FakeBucket.get_permission`` returning ``PermissionResult``.
"""

from __future__ import annotations

from typing import Any

from localcloud.core import motopatch

TAG = "_fleetpatch_s3_policies"


def _neutral(original: Any) -> Any:
    def get_permission(self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import PermissionResult

        return PermissionResult.NEUTRAL

    return get_permission


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.s3.models import FakeBucket

    motopatch.patch(FakeBucket, "get_permission", _neutral, tag=TAG)
