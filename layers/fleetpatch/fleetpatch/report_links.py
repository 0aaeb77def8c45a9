"""Links from a report to the AWS console: the execution, an instance, a command, its output.

A report page is opened from a mail or a Slack message by someone who then wants to look:
each id in it links to the console page for it, in the region the run ran in (read from
the run's execution ARN, so a report needs no other field for it). Pure functions.
"""

from __future__ import annotations

from urllib.parse import quote


def region_of(execution_arn: str | None) -> str | None:
    """The region of ``arn:<partition>:states:<region>:...``; None for anything else."""
    parts = (execution_arn or "").split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "states" or not parts[3]:
        return None
    return parts[3]


def _console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def instance_url(region: str, instance_id: str) -> str:
    return f"{_console(region)}/ec2/home?region={region}#InstanceDetails:instanceId={instance_id}"


def command_url(region: str, command_id: str) -> str:
    return f"{_console(region)}/systems-manager/run-command/{quote(command_id)}?region={region}"


def s3_url(region: str, location: str) -> str | None:
    """The console page of an ``s3://bucket/prefix`` location; None if it is not one."""
    if not location.startswith("s3://"):
        return None
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not bucket:
        return None
    return (
        f"https://s3.console.aws.amazon.com/s3/buckets/{quote(bucket)}"
        f"?region={region}&prefix={quote(prefix)}"
    )
