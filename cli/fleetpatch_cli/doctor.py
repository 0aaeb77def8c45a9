"""What ``fleetpatch doctor`` checks: the steps of docs/getting-started.md, read-only.

Each check yields findings: ``ok``, ``warn`` (works, but not as recommended) or ``fail``
(something will not work: nothing patched, nothing delivered, an instance held). A failing
finding carries the command that fixes it. Only read calls are made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from fleetpatch.contracts.s3 import COMMAND_OUTPUT_PREFIX
from fleetpatch.policy import CompiledPolicy
from fleetpatch.tags import PATCH_GROUP_TAG_KEYS
from fleetpatch_cli.controlplane import Clients

Status = Literal["ok", "warn", "fail"]
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
# DescribeInstanceInformation's InstanceIds filter takes at most 50 ids with MaxResults 50.
_IDS_PER_CALL = 50


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    subject: str
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


class StackMissing(Exception):
    """The stack is not deployed (or not readable): nothing else can be checked."""


@dataclass
class Doctor:
    clients: Clients
    stack_name: str
    policy_file: Path | None = None

    def run(self) -> list[Finding]:
        outputs = self._stack()
        findings = [Finding("stack", "ok", self.stack_name, "deployed")]
        policy = self._policy(outputs, findings)
        for check in (
            self._hooks(policy),
            self._instances(policy, outputs),
            self._slack(outputs),
            self._subscriptions(outputs),
            self._dead_letters(outputs),
        ):
            findings.extend(check)
        return findings

    # --- the stack and its policy ---------------------------------------------------------

    def _stack(self) -> dict[str, str]:
        cfn = self.clients("cloudformation")
        try:
            [stack] = cfn.describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationError":
                raise StackMissing(f"no stack {self.stack_name}: is it deployed here?") from None
            raise
        status = stack["StackStatus"]
        if not status.endswith("_COMPLETE") or "ROLLBACK" in status or "DELETE" in status:
            raise StackMissing(f"stack {self.stack_name} is {status}")
        return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}

    def _policy(self, outputs: dict[str, str], findings: list[Finding]) -> CompiledPolicy:
        name = outputs["PolicyParameterName"]
        value = self.clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        policy = CompiledPolicy.model_validate_json(value)
        if self.policy_file is not None and self.policy_file.exists():
            local = hashlib.sha256(self.policy_file.read_text().encode()).hexdigest()
            if local != outputs.get("PolicySha256"):
                findings.append(
                    Finding(
                        "policy",
                        "warn",
                        str(self.policy_file),
                        "differs from the deployed policy",
                        "deploy it: make build && sam deploy (or check out the deployed one)",
                    )
                )
            else:
                findings.append(Finding("policy", "ok", str(self.policy_file), "deployed"))
        return policy

    # --- launches: the hook on each group ----------------------------------------------------

    def _groups(self, policy: CompiledPolicy) -> list[str]:
        launch = policy.launch
        autoscaling = self.clients("autoscaling")
        names = set(launch.auto_scaling_group_names)
        if launch.auto_scaling_group_tags or not launch.selects_groups:
            for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
                for group in page["AutoScalingGroups"]:
                    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
                    if launch.selects_groups and not launch.covers_group(
                        group["AutoScalingGroupName"], tags
                    ):
                        continue
                    names.add(group["AutoScalingGroupName"])
        return sorted(names)

    def _hooks(self, policy: CompiledPolicy) -> Iterator[Finding]:
        launch = policy.launch
        autoscaling = self.clients("autoscaling")
        wanted = launch.hook_names
        fix = (
            "aws autoscaling put-lifecycle-hook --auto-scaling-group-name {group}"
            f" --lifecycle-hook-name {wanted[0]} --lifecycle-transition {LAUNCHING}"
            f" --heartbeat-timeout {max(900, launch.heartbeat_seconds + 300)}"
            " --default-result ABANDON"
        )
        groups = self._groups(policy)
        existing = set()
        for start in range(0, len(groups), 50):  # AutoScalingGroupNames: at most 50
            described = autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=groups[start : start + 50]
            )
            existing |= {g["AutoScalingGroupName"] for g in described["AutoScalingGroups"]}
        for group in groups:
            if group not in existing:
                yield Finding(
                    "hook", "warn", group, "the launch policy names it, but there is no such group"
                )
                continue
            hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)
            hook = next(
                (
                    h
                    for h in hooks["LifecycleHooks"]
                    if h["LifecycleHookName"] in wanted and h["LifecycleTransition"] == LAUNCHING
                ),
                None,
            )
            if hook is None:
                yield Finding(
                    "hook",
                    "fail",
                    group,
                    f"no launch hook named {' or '.join(wanted)}: new instances serve unpatched",
                    fix.format(group=group),
                )
                continue
            if hook["HeartbeatTimeout"] <= launch.heartbeat_seconds:
                yield Finding(
                    "hook",
                    "fail",
                    group,
                    f"HeartbeatTimeout {hook['HeartbeatTimeout']} s is not above the policy's"
                    f" heartbeat_seconds ({launch.heartbeat_seconds}): the hook times out"
                    " between heartbeats",
                    fix.format(group=group),
                )
            elif hook["DefaultResult"] != "ABANDON":
                yield Finding(
                    "hook",
                    "warn",
                    group,
                    "DefaultResult CONTINUE: an instance whose run cannot finish serves unpatched",
                    fix.format(group=group),
                )
            else:
                yield Finding("hook", "ok", group, f"{hook['LifecycleHookName']}, ABANDON")

    # --- instances in patch groups -----------------------------------------------------------

    def _instances(self, policy: CompiledPolicy, outputs: dict[str, str]) -> Iterator[Finding]:
        tagged, profiles = self._tagged_instances()
        online = self._agents(sorted(tagged))
        for instance, tags in sorted(tagged.items()):
            yield from self._instance(instance, tags, policy, online.get(instance))
            if instance not in profiles:
                yield Finding(
                    "profile",
                    "fail",
                    instance,
                    "no instance profile: the agent cannot register nor write command output",
                )
        if tagged:
            yield Finding("instances", "ok", f"{len(tagged)} in patch groups", "looked at")
        yield from self._profiles(sorted(set(profiles.values())), outputs)

    def _tagged_instances(self) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        """Running instances with a patch group tag: their tags, and their profiles' ARNs."""
        ec2 = self.clients("ec2")
        tagged: dict[str, dict[str, str]] = {}
        profiles: dict[str, str] = {}
        for key in PATCH_GROUP_TAG_KEYS:
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": "tag-key", "Values": [key]},
                    {"Name": "instance-state-name", "Values": ["running"]},
                ]
            )
            instances = (i for page in pages for r in page["Reservations"] for i in r["Instances"])
            for instance in instances:
                tagged[instance["InstanceId"]] = {t["Key"]: t["Value"] for t in instance["Tags"]}
                if profile := instance.get("IamInstanceProfile", {}).get("Arn"):
                    profiles[instance["InstanceId"]] = profile
        return tagged, profiles

    def _instance(
        self, instance: str, tags: dict[str, str], policy: CompiledPolicy, ping: str | None
    ) -> Iterator[Finding]:
        values = {tags[k] for k in PATCH_GROUP_TAG_KEYS if k in tags}
        if len(values) > 1:
            yield Finding(
                "tags",
                "fail",
                instance,
                f"two patch groups ({', '.join(sorted(values))}): fleetpatch patches neither",
                f"aws ec2 delete-tags --resources {instance} --tags Key=PatchGroup",
            )
            return
        [group] = values
        if group not in policy.patch_groups:
            detail = f"patch group {group} is not in the policy: no wave patches it"
            yield Finding("tags", "warn", instance, detail)
        if ping is None:
            yield Finding(
                "agent",
                "fail",
                instance,
                "not a managed instance: SSM cannot patch it",
                "attach AmazonSSMManagedInstanceCore to its instance profile"
                " (docs/getting-started.md, step 5)",
            )
        elif ping != "Online":
            yield Finding("agent", "fail", instance, f"SSM agent {ping}")

    def _agents(self, instances: list[str]) -> dict[str, str]:
        ssm = self.clients("ssm")
        found: dict[str, str] = {}
        for start in range(0, len(instances), _IDS_PER_CALL):
            ids = instances[start : start + _IDS_PER_CALL]
            pages = ssm.get_paginator("describe_instance_information").paginate(
                Filters=[{"Key": "InstanceIds", "Values": ids}],
                PaginationConfig={"PageSize": _IDS_PER_CALL},
            )
            for page in pages:
                for info in page["InstanceInformationList"]:
                    found[info["InstanceId"]] = info["PingStatus"]
        return found

    def _profiles(self, profile_arns: list[str], outputs: dict[str, str]) -> Iterator[Finding]:
        iam = self.clients("iam")
        bucket = outputs["ArtifactsBucketName"]
        for arn in profile_arns:
            name = arn.rsplit("/", 1)[-1]
            # The bucket's ARN in the profile's partition (aws, aws-cn, aws-us-gov)
            target = f"arn:{arn.split(':')[1]}:s3:::{bucket}/{COMMAND_OUTPUT_PREFIX}doctor"
            try:
                roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
                role_arns = [r["Arn"] for r in roles["Roles"]]
                decisions = [
                    iam.simulate_principal_policy(
                        PolicySourceArn=role, ActionNames=["s3:PutObject"], ResourceArns=[target]
                    )["EvaluationResults"][0]["EvalDecision"]
                    for role in role_arns
                ]
            except ClientError as exc:
                yield Finding(
                    "profile",
                    "warn",
                    name,
                    f"could not check ({exc.response['Error']['Code']})",
                )
                continue
            if "allowed" in decisions:
                yield Finding("profile", "ok", name, "may write command output")
            else:
                yield Finding(
                    "profile",
                    "warn",
                    name,
                    f"may not write command output to s3://{bucket}/{COMMAND_OUTPUT_PREFIX}:"
                    " reports link to nothing",
                    "docs/getting-started.md, step 5",
                )

    # --- notifications and dead letters ------------------------------------------------------

    def _slack(self, outputs: dict[str, str]) -> Iterator[Finding]:
        secret = outputs.get("SlackWebhookSecret", "")
        if not secret:
            yield Finding("slack", "ok", "Slack", "off (the policy names no webhook secret)")
            return
        try:
            self.clients("secretsmanager").describe_secret(SecretId=secret)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            yield Finding(
                "slack",
                "fail",
                secret,
                "the webhook secret does not exist: Slack messages go to a dead-letter queue",
                f"aws secretsmanager create-secret --name {secret}"
                f" --kms-key-id {outputs.get('KeyArn', '<KeyArn>')}"
                " --secret-string '<webhook URL>'",
            )
            return
        yield Finding("slack", "ok", secret, "exists")

    def _subscriptions(self, outputs: dict[str, str]) -> Iterator[Finding]:
        sns = self.clients("sns")
        topic = outputs["ReportsTopicArn"]
        subscriptions: list[dict[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            subscriptions.extend(page["Subscriptions"])
        for sub in subscriptions:
            if sub["SubscriptionArn"] == "PendingConfirmation":
                yield Finding(
                    "subscription",
                    "fail",
                    sub["Endpoint"],
                    f"{sub['Protocol']} subscription not confirmed: nothing is sent there",
                    "click the link in the 'Subscription Confirmation' message",
                )
        if not subscriptions:
            yield Finding("subscription", "warn", topic, "nobody is subscribed to the reports")
        elif all(s["SubscriptionArn"] != "PendingConfirmation" for s in subscriptions):
            yield Finding("subscription", "ok", topic, f"{len(subscriptions)} confirmed")

    def _dead_letters(self, outputs: dict[str, str]) -> Iterator[Finding]:
        sqs = self.clients("sqs")
        empty = 0
        for key, url in sorted(outputs.items()):
            if not key.endswith("DeadLetterQueueUrl"):
                continue
            queue = key.removesuffix("Url")
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depth = int(attributes["ApproximateNumberOfMessages"])
            if depth:
                yield Finding(
                    "dead-letters",
                    "fail",
                    queue,
                    f"{depth} message(s) that failed: read them, fix the cause, redrive",
                    f"aws sqs receive-message --queue-url {url} --max-number-of-messages 10",
                )
            else:
                empty += 1
        if empty:
            yield Finding("dead-letters", "ok", f"{empty} queues", "empty")
