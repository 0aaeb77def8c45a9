"""Code in S3, as a packaged template has it (``fleetpatch package --stackset``).

Lambda's CreateFunction and PublishLayerVersion read ``S3Bucket``/``S3Key`` themselves: the
bucket must be in the function's region, the object must exist, and a bucket of another
account must let the deploying account read it (its bucket policy: the StackSet's
execution role in the member reads the organization's artifact bucket). The zip is then
extracted once per content into a cache directory, which the local runtime runs.

moto internals: ``moto.s3.models.s3_backends`` and its ``bucket_accounts`` map (bucket name
-> (partition, account)), ``FakeBucket.region_name``, ``FakeKey.value``. Canary:
tests/unit/localcloud/test_moto_canaries_org.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from localcloud.core.iam import policy
from localcloud.core.iam.principal import Principal
from localcloud.intrinsics import TemplateError

_CACHE = Path(tempfile.gettempdir()) / "localcloud-artifacts"

# The role StackSets with service-managed permissions deploy as in each member (it has
# AdministratorAccess: its identity policy allows every read).
STACKSET_EXECUTION_ROLE = "stacksets-exec-localcloud"


def fetch(bucket: str, key: str, *, region: str, account: str, org_id: str | None) -> bytes:
    """The object's bytes, refused as Lambda refuses (InvalidParameterValueException text)."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        raise TemplateError(
            f"Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
            f"The specified bucket does not exist ({bucket})"
        )
    partition, owner_account = owner
    fake = s3_backends[owner_account][partition].buckets[bucket]
    if fake.region_name != region:
        raise TemplateError(
            f"Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error "
            f"Message: The bucket is in this region: {fake.region_name}. Please use this "
            f"region to retry the request (the stack is in {region})"
        )
    if owner_account != account:
        _require_cross_account_read(fake, bucket, key, account, org_id)
    stored: Any = fake.keys.get(key)
    if stored is None:
        raise TemplateError(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
            f"The specified key does not exist ({bucket}/{key})"
        )
    body: bytes = stored.value
    return body


def _require_cross_account_read(
    fake: Any, bucket: str, key: str, account: str, org_id: str | None
) -> None:
    document = fake.policy.decode() if isinstance(fake.policy, bytes) else fake.policy
    statements = (
        policy.parse_policy(document, f"s3:{bucket}", resource_policy=True) if document else []
    )
    role = Principal.role(
        f"arn:aws:iam::{account}:role/{STACKSET_EXECUTION_ROLE}", session="cfn", org_id=org_id
    )
    administrator = policy.parse_policy(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        "AdministratorAccess",
        resource_policy=False,
    )
    keys: dict[str, list[str] | None] = {
        "aws:SecureTransport": ["true"],
        "s3:TlsVersion": ["1.3"],
        "aws:PrincipalAccount": [account],
        "aws:PrincipalArn": [role.arn],
        "aws:PrincipalOrgID": [org_id] if org_id else None,
    }
    request = policy.Request(
        "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", policy.ConditionContext(keys)
    )
    decision = policy.evaluate(
        role, request, administrator, statements, resource_account=fake.account_id
    )
    if not decision.allowed:
        raise TemplateError(
            f"Error occurred while GetObject. S3 Error Code: AccessDenied. S3 Error Message: "
            f"Access Denied ({role.caller_arn} may not read s3://{bucket}/{key} "
            f"{decision.reason})"
        )


def extracted(body: bytes) -> Path:
    """``body`` (a zip) extracted into a directory named by its content, once per process."""
    directory = _CACHE / hashlib.sha256(body).hexdigest()
    if directory.is_dir():
        return directory
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile as exc:
        raise TemplateError(f"the deployment package is not a zip file: {exc}") from exc
    _CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=_CACHE))
    try:
        archive.extractall(staging)
        os.replace(staging, directory)
    except OSError:
        # Another process extracted the same content first: theirs is identical.
        shutil.rmtree(staging, ignore_errors=True)
        if not directory.is_dir():
            raise
    return directory
