"""What IAM reads of the local cloud to decide: tags, queues, topics, buckets, tables,
secrets, functions and keys, and their resource policies (a base of IamEnforcer).

These reads are never authorized: IAM reading the account is not a call of the account's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3


class ResourceLookups:
    """The cloud as IAM sees it, cached per enforcer."""

    # Set by IamEnforcer.__init__.
    region: str
    account: str
    partition: str
    _cache: dict[tuple[str, str], Any]
    _lock: threading.RLock
    _clients: dict[str, Any]
    _session: Any

    # --- lookups (the cloud as IAM sees it; never authorized) ---------------------------------

    def _client(self, service: str) -> Any:
        # A session of its own: IAM reading the account is not a call of the account's
        # (the default session's hooks, such as the benchmarks' call count, never see it).
        client = self._clients.get(service)
        if client is None:
            if self._session is None:
                self._session = boto3.Session(region_name=self.region)
            client = self._clients[service] = self._session.client(service)
        return client

    def _cached(self, key: tuple[str, str], load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = load()
        with self._lock:
            self._cache[key] = value
        return value

    def instance_tags(self, instance_ids: list[str]) -> dict[str, dict[str, str]]:
        if not instance_ids:
            return {}
        tags: dict[str, dict[str, str]] = {i: {} for i in instance_ids}
        paginator = self._client("ec2").get_paginator("describe_tags")
        for page in paginator.paginate(Filters=[{"Name": "resource-id", "Values": instance_ids}]):
            for tag in page["Tags"]:
                tags.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
        return tags

    def ec2_tags(self, resource_ids: list[str]) -> dict[str, dict[str, str]]:
        """Tags of EC2 resources by id (instances, volumes, snapshots: DescribeTags)."""
        return self.instance_tags(resource_ids)

    def instance_volumes(self, instance_id: str) -> tuple[str | None, list[str]]:
        """An instance's root volume id and all its EBS volume ids ((None, []): no instance)."""
        ec2 = self._client("ec2")
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ec2.exceptions.ClientError:
            return None, []
        instance = reservations[0]["Instances"][0]
        volumes = {
            m["DeviceName"]: m["Ebs"]["VolumeId"]
            for m in instance.get("BlockDeviceMappings", [])
            if "Ebs" in m
        }
        return volumes.get(instance.get("RootDeviceName", "")), list(volumes.values())

    def managed_node_tags(self, node_id: str) -> dict[str, str]:
        ssm = self._client("ssm")
        try:
            tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=node_id)
        except ssm.exceptions.ClientError:
            return {}
        return {t["Key"]: t["Value"] for t in tags.get("TagList", [])}

    def document_type(self, name_or_arn: str) -> str | None:
        """An SSM document's DocumentType (IAM's ``ssm:DocumentType``); None: no such document."""
        ssm = self._client("ssm")
        try:
            found = ssm.describe_document(Name=name_or_arn.rsplit("document/", 1)[-1])
        except ssm.exceptions.ClientError:
            return None
        return str(found["Document"].get("DocumentType") or "") or None

    def group(self, name: str) -> tuple[str, dict[str, str]]:
        # Read from moto's backend, not DescribeAutoScalingGroups: the answer serialises every
        # instance of the group, and a launch's heartbeats and CompleteLifecycleAction each
        # ask, so a scale-out of N launches paid N x N instances (a fifth of a 100-launch
        # scale-out's CPU). The same ARN and tags (canary: test_moto_canaries_iam.py).
        from moto.autoscaling.models import autoscaling_backends

        group = autoscaling_backends[self.account][self.region].autoscaling_groups.get(name)
        if group is None:
            # The ARN of a group that does not exist still names it (the call then fails on it).
            return (
                f"arn:{self.partition}:autoscaling:{self.region}:{self.account}:autoScalingGroup:"
                f"00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}",
                {},
            )
        return str(group.arn), {str(t["Key"]): str(t["Value"]) for t in group.tags}

    def target_group_tags(self, arn: str) -> dict[str, str]:
        elbv2 = self._client("elbv2")
        try:
            described = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        except elbv2.exceptions.ClientError:
            return {}  # no such target group: the call then fails on it
        return {t["Key"]: t["Value"] for d in described for t in d.get("Tags", [])}

    def queue(self, url: str) -> tuple[str, str | None]:
        arn, key, _ = self._queue(url)
        return arn, key

    def _queue(self, url: str) -> tuple[str, str | None, str | None]:
        result: tuple[str, str | None, str | None] = self._cached(
            ("queue", url), lambda: self._load_queue(url)
        )
        return result

    def _queue_policy(self, arn: str) -> str | None:
        name = arn.rsplit(":", 1)[-1]
        url = self._client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        return self._queue(url)[2]

    def _load_queue(self, url: str) -> tuple[str, str | None, str | None]:
        attributes = self._client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        return attributes["QueueArn"], attributes.get("KmsMasterKeyId"), attributes.get("Policy")

    def _topic(self, arn: str) -> dict[str, str]:
        def load() -> dict[str, str]:
            attributes: dict[str, str] = self._client("sns").get_topic_attributes(TopicArn=arn)[
                "Attributes"
            ]
            return attributes

        result: dict[str, str] = self._cached(("topic", arn), load)
        return result

    def topic_key(self, arn: str) -> str | None:
        return self._topic(arn).get("KmsMasterKeyId") or None

    def bucket_key(self, bucket: str) -> str | None:
        def load() -> str | None:
            s3 = self._client("s3")
            try:
                rules = s3.get_bucket_encryption(Bucket=bucket)[
                    "ServerSideEncryptionConfiguration"
                ]["Rules"]
            except s3.exceptions.ClientError:
                return None
            for rule in rules:
                default = rule.get("ApplyServerSideEncryptionByDefault", {})
                if default.get("SSEAlgorithm") == "aws:kms":
                    return str(default.get("KMSMasterKeyID") or "alias/aws/s3")
            return None

        result: str | None = self._cached(("bucket-key", bucket), load)
        return result

    def _bucket_policy(self, bucket: str) -> str | None:
        def load() -> str | None:
            s3 = self._client("s3")
            try:
                return str(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            except s3.exceptions.ClientError:
                return None

        result: str | None = self._cached(("bucket-policy", bucket), load)
        return result

    def table(self, name: str) -> tuple[str, str | None, str]:
        def load() -> tuple[str, str | None, str]:
            table = self._client("dynamodb").describe_table(TableName=name.rsplit("/", 1)[-1])[
                "Table"
            ]
            hash_key = next(
                k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH"
            )
            sse = table.get("SSEDescription") or {}
            key = sse.get("KMSMasterKeyArn") if sse.get("SSEType") == "KMS" else None
            return table["TableArn"], key, hash_key

        result: tuple[str, str | None, str] = self._cached(("table", name), load)
        return result

    def secret(self, secret_id: str) -> tuple[str, str | None]:
        def load() -> tuple[str, str | None]:
            secret = self._client("secretsmanager").describe_secret(SecretId=secret_id)
            return secret["ARN"], secret.get("KmsKeyId")

        result: tuple[str, str | None] = self._cached(("secret", secret_id), load)
        return result

    def function_arn(self, name: str) -> str:
        if name.startswith("arn:"):
            return ":".join(name.split(":")[:7])
        function = name.split(":", maxsplit=1)[0]
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{function}"

    def key_arn(self, key_id: str) -> str:
        def load() -> str:
            if key_id.startswith("arn:") and key_id.split(":")[4] != self.account:
                # Another account's key (a bucket of the organization's central account):
                # its ARN names it; no client of this account can describe it.
                return key_id
            return str(self._client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])

        result: str = self._cached(("key", key_id), load)
        return result
