"""Rebuild fleetpatch/patch_properties.json from DescribePatchProperties, on purpose.

An operator runs it against a real account (never the tests, never ``make test``):

    python tools/refresh_patch_properties.py --region eu-central-1 [--profile ops] [--dry-run]

Every (operating system, key) of the file that DescribePatchProperties enumerates gets the
region's answer in place of the documented list, with that call and the date as its source;
SECTION (which the API does not enumerate) and whatever the API refuses keep their entry.
Review the diff before committing it: what AWS answers today is what the policy accepts.
It needs ssm:DescribePatchProperties and nothing else.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

DATA = Path(__file__).resolve().parents[1] / "layers/fleetpatch/fleetpatch/patch_properties.json"
# The PatchProperty values of the API; SECTION is a filter key it cannot list.
QUERYABLE = frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY", "MSRC_SEVERITY", "PRIORITY"})
SOURCE = "describe-patch-properties-api"
API_URL = "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribePatchProperties.html"


def queries(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (operating system, key) pairs of the file the API can answer, in the file's order."""
    return [
        (os_name, key)
        for os_name, keys in data["operating_systems"].items()
        for key in keys
        if key in QUERYABLE
    ]


def property_values(pages: Iterable[Mapping[str, Any]], where: str) -> list[str]:
    """Each property's ``Name`` in DescribePatchProperties pages, once, in AWS's order."""
    values: list[str] = []
    for page in pages:
        for prop in page.get("Properties", []):
            if "Name" not in prop:
                raise ValueError(f"{where}: a property without a Name: {prop}")
            if prop["Name"] not in values:
                values.append(prop["Name"])
    return values


def refreshed(
    data: Mapping[str, Any], answers: Mapping[tuple[str, str], list[str]], region: str, on: date
) -> dict[str, Any]:
    """``data`` with each answered pair's values replaced and the new source recorded."""
    result = copy.deepcopy(dict(data))
    result["sources"][SOURCE] = {
        "url": API_URL,
        "says": f"the values region {region} answered on {on.isoformat()}",
    }
    for (os_name, key), values in answers.items():
        old = result["operating_systems"][os_name][key]
        entry: dict[str, Any] = {"values": values, "sources": [SOURCE]}
        hints = {k: v for k, v in old.get("hints", {}).items() if v in values}
        if hints:
            entry["hints"] = hints
        result["operating_systems"][os_name][key] = entry
    result["retrieved"] = on.isoformat()
    result["retrieved_from"] = (
        f"DescribePatchProperties in {region} for what it enumerates; AWS documentation "
        '(the pages under "sources") for the rest'
    )
    return result


def dump(data: Mapping[str, Any]) -> str:
    """The file's text: one layout, so a refresh's diff shows only what changed."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _ask(ssm: SSMClient, os_name: str, key: str) -> list[str]:
    arguments: dict[str, Any] = {"OperatingSystem": os_name, "Property": key}
    if os_name == "WINDOWS":
        arguments["PatchSet"] = "OS"  # the policy's rules patch the OS, not applications
    pages = ssm.get_paginator("describe_patch_properties").paginate(**arguments)
    return property_values(pages, f"{os_name} {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True)
    parser.add_argument("--profile")
    parser.add_argument("--output", type=Path, default=DATA)
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    ssm = boto3.Session(profile_name=args.profile, region_name=args.region).client("ssm")
    data = json.loads(DATA.read_text(encoding="utf-8"))
    answers: dict[tuple[str, str], list[str]] = {}
    for os_name, key in queries(data):
        try:
            values = _ask(ssm, os_name, key)
        except (ClientError, BotoCoreError) as exc:
            print(f"{os_name} {key}: kept the documented entry ({exc})", file=sys.stderr)
            continue
        if not values:
            print(
                f"{os_name} {key}: no values answered; kept the documented entry", file=sys.stderr
            )
            continue
        answers[os_name, key] = values
    text = dump(refreshed(data, answers, args.region, datetime.now(UTC).date()))
    if args.dry_run:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"{args.output}: {len(answers)} lists from DescribePatchProperties; review the diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
