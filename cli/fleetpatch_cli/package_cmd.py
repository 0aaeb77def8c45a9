"""``fleetpatch package --stackset``: one template for every account and region of a StackSet.

The SAM template expanded offline (:mod:`fleetpatch_cli.stackset_template`), its code
uploaded to ``<bucket-prefix>-<region>`` in each region the StackSet deploys to, and the
template itself, too big for a TemplateBody, to the first region's bucket, whose
``https://`` URL is printed for ``aws cloudformation create-stack-set --template-url``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch_cli.boundary import EXIT_INVALID
from fleetpatch_cli.parser import examples
from fleetpatch_cli.stackset_template import (
    BUCKET_PARAMETER,
    KEY_PREFIX,
    PackagingError,
    StackSetPackage,
    build,
)


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def upload(package: StackSetPackage, regions: list[str], prefix: str, s3: Any) -> str:
    """Upload the artifacts to each region's bucket and the template to the first; its URL.

    ``s3(region)`` is an S3 client of that region. Keys are content hashes: an object that
    is already there is the same bytes and is not uploaded again.
    """
    check_buckets(regions, prefix, s3)
    for region in regions:
        bucket = f"{prefix}-{region}"
        client = s3(region)
        for artifact in package.artifacts.values():
            if not _exists(client, bucket, artifact.key):
                client.put_object(Bucket=bucket, Key=artifact.key, Body=artifact.body)
    body = package.body().encode()
    key = f"{KEY_PREFIX}template-{hashlib.sha256(body).hexdigest()}.json"
    s3(regions[0]).put_object(Bucket=f"{prefix}-{regions[0]}", Key=key, Body=body)
    return template_url(f"{prefix}-{regions[0]}", regions[0], key)


def check_buckets(regions: list[str], prefix: str, s3: Any) -> None:
    """Each region's bucket exists and is in that region (before anything is built)."""
    for region in regions:
        _check_bucket(s3(region), f"{prefix}-{region}", region)


def _check_bucket(client: Any, bucket: str, region: str) -> None:
    try:
        location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchBucket", "404"}:
            raise PackagingError(
                f"bucket {bucket} does not exist: create it in {region} (and let the "
                "organization's accounts read it: docs/multi-account.md)"
            ) from exc
        raise
    # GetBucketLocation answers null for us-east-1.
    if (location or "us-east-1") != region:
        raise PackagingError(
            f"bucket {bucket} is in {location or 'us-east-1'}, not {region}: Lambda reads a "
            "function's code from a bucket in the function's own region"
        )


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def run_package(args: argparse.Namespace) -> int:
    import boto3

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    try:
        if not args.stackset:
            raise PackagingError(
                "only --stackset packaging is offered: for one account and region, sam deploy"
            )
        if not regions:
            raise PackagingError("--regions names no region")
        session = boto3.Session(profile_name=args.profile)
        clients: dict[str, Any] = {}

        def s3(region: str) -> Any:
            if region not in clients:
                clients[region] = session.client(
                    "s3", region_name=region, endpoint_url=args.endpoint_url
                )
            return clients[region]

        check_buckets(regions, args.bucket_prefix, s3)
        package = build(Path(args.template), allow_unbuilt=args.allow_unbuilt)
        url = upload(package, regions, args.bucket_prefix, s3)
    except PackagingError as exc:
        print(f"fleetpatch package: {exc}", file=sys.stderr)
        return EXIT_INVALID
    Path(args.output).write_text(package.body())
    print(
        f"{args.output}: {package.size} bytes, {len(package.template['Resources'])} resources, "
        f"{len(package.artifacts)} artifacts in {', '.join(regions)}"
    )
    print(f"TemplateURL: {url}")
    print(f"Parameter {BUCKET_PARAMETER}={args.bucket_prefix}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "package",
        help="expand the SAM template for CloudFormation StackSets and upload its code",
        description="Expand template.yaml's SAM transform offline into plain CloudFormation "
        "that StackSets with service-managed permissions accept (no transform, no nested "
        "stack), upload the functions' code and the layer to <bucket-prefix>-<region> in each "
        "region, and the template to the first region's bucket. See docs/multi-account.md.",
        epilog=examples(
            "fleetpatch package --stackset --template .aws-sam/build/template.yaml "
            "--regions eu-central-1,eu-west-1 --bucket-prefix acme-fleetpatch "
            "--output stackset.json     # after sam build",
        ),
    )
    parser.add_argument("--stackset", action="store_true", help="package for a StackSet (required)")
    parser.add_argument("--template", default="template.yaml", help="the SAM template")
    parser.add_argument("--regions", required=True, metavar="R1,R2", help="the StackSet's regions")
    parser.add_argument(
        "--bucket-prefix",
        required=True,
        metavar="PREFIX",
        help="artifact buckets are PREFIX-<region>; they must exist",
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="the template (JSON)")
    parser.add_argument(
        "--allow-unbuilt",
        action="store_true",
        help="zip source directories that have a requirements.txt (their packages missing)",
    )
    parser.add_argument(
        "--endpoint-url", metavar="URL", help="an AWS-compatible endpoint, e.g. local up's"
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, or the default)")
    parser.set_defaults(func=run_package)
