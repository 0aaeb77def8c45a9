"""The SAM transform, run offline with aws-sam-translator as CloudFormation runs it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

from localcloud.intrinsics import PseudoParameters, TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def transforms(template: Mapping[str, Any]) -> list[str]:
    """The template's transforms; only the SAM transform is supported."""
    declared = template.get("Transform") or []
    names = [declared] if isinstance(declared, str) else list(declared)
    unsupported = [name for name in names if name != SAM_TRANSFORM]
    if unsupported:
        raise TemplateError(f"transforms not supported by the local deploy: {unsupported}")
    return names


class _NoManagedPolicyLookup:
    """The translator's fallback lookup of AWS managed policy names, answered offline.

    The translator resolves names from the map bundled with it (every AWS managed policy of
    the partition) and asks this loader only for names missing there; the real loader would
    list IAM's policies in AWS. A name no map knows is not an AWS managed policy: returning
    nothing makes the translator keep it as written, and the role's creation then fails
    naming it.
    """

    def load(self) -> dict[str, str]:
        return {}


def sam_to_cloudformation(
    template: dict[str, Any], parameters: Mapping[str, str], pseudo: PseudoParameters
) -> dict[str, Any]:
    values = {
        **parameters,
        "AWS::Region": pseudo.region,
        "AWS::AccountId": pseudo.account_id,
        "AWS::Partition": pseudo.partition,
        "AWS::StackName": pseudo.stack_name,
    }
    try:
        transformed: dict[str, Any] = transform(template, values, _NoManagedPolicyLookup())
    except InvalidDocumentException as exc:
        problems = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"the SAM transform rejected the template: {problems}") from exc
    finally:
        # The translator times itself into metrics nobody publishes, and warns about them
        # when they are garbage-collected; its publisher here is a dummy.
        MetricsMethodWrapperSingleton.get_instance().publish()
    return transformed


def renamed_by_sam(sam_ids: list[str], resources: Mapping[str, Any]) -> dict[str, str]:
    """SAM ids the transform replaced by ``<id><10 hex digits>`` (layer versions do)."""
    renamed: dict[str, str] = {}
    for sam_id in sam_ids:
        if sam_id in resources:
            continue
        pattern = re.compile(re.escape(sam_id) + "[0-9a-f]{10}")
        matches = [logical_id for logical_id in resources if pattern.fullmatch(logical_id)]
        if len(matches) == 1:
            renamed[sam_id] = matches[0]
    return renamed
