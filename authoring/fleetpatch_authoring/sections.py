"""The launch, compliance and notifications sections of the policy file."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from fleetpatch.batch_policy import RebootOption
from fleetpatch.churn import ChurnAction, ChurnPolicy
from fleetpatch.launch import LaunchPolicy
from fleetpatch.policy import Remediation
from fleetpatch_authoring.fields import Count, PolicyModel, Switch

_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AutoScalingSelector(PolicyModel):
    names: list[str] = Field(
        default_factory=list, description="groups patched on launch (empty: any with the hook)"
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="...or groups carrying all of these tags"
    )


class InstanceSelector(PolicyModel):
    tag_key: str = Field(default="fleetpatch:patch-on-launch", min_length=1, max_length=128)
    tag_value: str = Field(default="true", max_length=256)


class Churn(PolicyModel):
    """The same launch failure again and again in one group (see ``fleetpatch.churn``)."""

    after: Count = Field(
        default=3,
        ge=2,
        le=100,
        description="launch failures in a row in one Auto Scaling group, with the same "
        "reason, that make one escalation (the first is reported, the others only stored)",
    )
    action: ChurnAction = Field(
        default="suspend-launch",
        description="then: suspend-launch (suspend the group's Launch process until an "
        "operator resumes it), continue (release the failing instances unpatched, each "
        "reported) or notify-only (escalate, and keep replacing)",
    )


class Launch(PolicyModel):
    """Which new instances are patched before they serve, and how."""

    lifecycle_hooks: list[str] = Field(default=["fleetpatch-launch"], min_length=1)
    auto_scaling_groups: AutoScalingSelector = AutoScalingSelector()
    instances: InstanceSelector = Field(
        default=InstanceSelector(),
        description="standalone instances (no Auto Scaling group) patched when running",
    )
    agent_timeout_minutes: Count = Field(default=15, ge=1, le=48 * 60)
    heartbeat_seconds: Count = Field(default=600, ge=30, le=7200)
    command_timeout_minutes: Count = Field(default=60, ge=1, le=48 * 60)
    on_failure: Literal["abandon", "continue"] = "abandon"
    reboot: RebootOption = "RebootIfNeeded"
    churn: Churn = Field(
        default=Churn(),
        description="what ends launch, abandon, replace cycles (with on_failure: abandon)",
    )

    @model_validator(mode="after")
    def _launch_policy_valid(self) -> Launch:
        try:
            self.launch_policy()
        except ValidationError as exc:
            raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None
        return self

    def launch_policy(self) -> LaunchPolicy:
        """The form the patch-on-launch function reads."""
        return LaunchPolicy(
            hook_names=self.lifecycle_hooks,
            auto_scaling_group_names=self.auto_scaling_groups.names,
            auto_scaling_group_tags=self.auto_scaling_groups.tags,
            instance_tag_key=self.instances.tag_key,
            instance_tag_value=self.instances.tag_value,
            agent_timeout_seconds=self.agent_timeout_minutes * 60,
            heartbeat_seconds=self.heartbeat_seconds,
            command_timeout_seconds=self.command_timeout_minutes * 60,
            on_failure="ABANDON" if self.on_failure == "abandon" else "CONTINUE",
            reboot_option=self.reboot,
            churn=ChurnPolicy(after=self.churn.after, action=self.churn.action),
        )


class Compliance(PolicyModel):
    digest_minutes: Count = Field(
        default=60, ge=5, le=24 * 60, description="drift is notified at most this often"
    )
    notify_recoveries: Switch = True
    remediation: dict[str, Remediation] = Field(
        default_factory=dict,
        description="per environment: never, scan, or install (inside the environment's "
        "window only); environments not listed: never",
    )


class Slack(PolicyModel):
    webhook_secret: str = Field(
        description="the Secrets Manager secret (name or ARN) holding the webhook URL"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _a_name_not_a_secret(cls, value: str) -> str:
        lowered = value.lower()
        if lowered.startswith(("http://", "https://")) or "hooks.slack.com" in lowered:
            raise ValueError(
                "this is a webhook URL, a secret: store it in Secrets Manager and give the "
                "secret's name here"
            )
        if lowered.startswith(("xoxb-", "xoxp-", "xapp-")):
            raise ValueError(
                "this is a Slack token, a secret: store it in Secrets Manager and give the "
                "secret's name here"
            )
        if not (_SECRET_NAME.fullmatch(value) or _SECRET_ARN.fullmatch(value)):
            raise ValueError(
                "not a Secrets Manager secret name (letters, digits and /_+=.@-) or ARN"
            )
        return value


def _email_address(address: str) -> str:
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{address!r} is not an e-mail address")
    return address


class Sns(PolicyModel):
    # Checked one by one, so the error names the address's index.
    email: list[Annotated[str, AfterValidator(_email_address)]] = Field(
        default_factory=list, description="addresses subscribed to the reports topic"
    )


class Notifications(PolicyModel):
    sns: Sns = Sns()
    slack: Slack | None = None
