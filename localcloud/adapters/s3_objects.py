"""Objects an AWS service writes into the account's buckets, without a request round trip.

The SSM agent uploads every command invocation's output to the command's output bucket.
Through a boto3 client each upload is serialised, signed, parsed back by moto's S3 request
handling and answered: at fleet scale (one or two uploads per instance of a wave) that was
a third of a wave's wall time on the local cloud (py-spy over every thread, a 1,000-instance
wave). :func:`put_object` hands the object to ``S3Backend.put_object``, which is what moto's
PutObject handler calls with the request's bucket, key and body: the bucket's default
encryption, notifications and the local cloud's key-length quota (a check on that method,
``localcloud.adapters.quotas``) apply as before. The agent acts as no principal on the local
cloud either way (no IAM check, and S3 has no modelled rate). Canary:
tests/unit/localcloud/test_moto_canaries_lookups.py.
"""

from __future__ import annotations

from typing import Any


def put_object(account_id: str, region: str, bucket: str, key: str, body: bytes) -> Any:
    """Store ``body`` at ``s3://bucket/key``; moto's errors (no such bucket) are raised."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[account_id][get_partition(region)].put_object(bucket, key, body)
