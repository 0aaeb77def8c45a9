"""What the commands that act on a deployed stage share: AWS clients, options, resource names.

A stage's resources have fixed names (``template.yaml``): the state table
``fleetpatch-<stage>-state`` and the artifacts bucket
``fleetpatch-<stage>-artifacts-<account>-<region>``. The commands reach them in the account
your AWS credentials point at (``--region``, ``--profile``) or on any AWS-compatible
endpoint (``--endpoint-url``, e.g. ``fleetpatch local up``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from fleetpatch.contracts.names import artifacts_bucket_name, state_table_name

Clients = Callable[[str], Any]
"""A boto3 client by service name (``clients("dynamodb")``), one per service."""


def boto_clients(args: argparse.Namespace) -> Clients:
    """Clients for the options of :func:`add_aws_options`, created on first use."""
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]
        return cache[service]

    return client


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """--stage, --endpoint-url, --region and --profile, as every stage command takes them."""
    parser.add_argument("--stage", default="default", help="the deployed stage")
    parser.add_argument(
        "--endpoint-url", metavar="URL", help="an AWS-compatible endpoint, e.g. local up's"
    )
    parser.add_argument("--region", help="AWS region (default: your AWS profile's)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, or the default)")


class Stage:
    """A deployed stage's shared resources, by the names the template gives them."""

    def __init__(self, clients: Clients, name: str) -> None:
        self.clients = clients
        self.name = name

    @property
    def state_table(self) -> str:
        return state_table_name(self.name)

    @property
    def region(self) -> str:
        region: str = self.clients("s3").meta.region_name
        return region

    def artifacts_bucket(self) -> str:
        account = self.clients("sts").get_caller_identity()["Account"]
        return artifacts_bucket_name(self.name, account, self.region)
