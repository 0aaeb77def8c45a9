"""What resource creators work with: the resource as resolved, what they return, the cloud."""

from __future__ import annotations

import hashlib
from base64 import b32encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.model import Shape

from localcloud.deployer import s3_artifacts
from localcloud.deployer.packaging import ARTIFACT_BUCKET, placeholder_zip
from localcloud.deployer.stack import Stack
from localcloud.intrinsics import PseudoParameters, TemplateError, as_text

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

NestedDeploy = Callable[[Path, Mapping[str, str], str], Stack]
"""``(template path, parameters, stack name) -> stack``: how a nested stack is deployed."""


@dataclass(frozen=True)
class Resource:
    """A resource as its creator sees it: properties with every intrinsic resolved."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    passes: frozenset[str] = frozenset()

    @property
    def passed(self) -> dict[str, Any]:
        """The properties the API takes exactly as CloudFormation has them."""
        return {name: value for name, value in self.properties.items() if name in self.passes}

    def require(self, name: str) -> Any:
        if name not in self.properties:
            raise TemplateError(f"property {name} is required")
        return self.properties[name]


@dataclass(frozen=True)
class Created:
    """What a creator returns: what ``Ref`` and ``Fn::GetAtt`` give, and what the stack keeps."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    local_path: Path | None = None
    recorded: dict[str, Any] = field(default_factory=dict)
    nested: Stack | None = None


class Context:
    """The cloud as creators see it: API calls, generated names, ARNs and artifacts."""

    def __init__(
        self,
        cloud: LocalCloud,
        pseudo: PseudoParameters,
        artifacts: Mapping[str, Path],
        deploy_nested: NestedDeploy,
    ) -> None:
        self.cloud = cloud
        self.pseudo = pseudo
        self.artifacts = artifacts
        self.deploy_nested = deploy_nested
        """Deploys a nested stack's template into the same cloud (the deploy itself)."""
        self.placeholder_zip = placeholder_zip()
        self._clients: dict[str, Any] = {}

    def call(self, service: str, method: str, **params: Any) -> Any:
        """Call an AWS API with CloudFormation's leniency about scalar types.

        Templates say ``Timeout: !Ref Seconds`` (a string) where the API wants an integer;
        CloudFormation converts, and so do we, guided by the operation's input shape.
        ``None`` arguments are left out, so creators can pass optional properties as-is.
        """
        if service not in self._clients:
            self._clients[service] = self.cloud.client(service)
        client = self._clients[service]
        operation = client.meta.service_model.operation_model(
            client.meta.method_to_api_mapping[method]
        )
        present = {name: value for name, value in params.items() if value is not None}
        return getattr(client, method)(**conform(present, operation.input_shape))

    def name(self, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
        """The name CloudFormation generates: ``<stack>-<LogicalId>-<SUFFIX>``, truncated.

        The suffix is derived from the stack and logical id, so names are stable per deploy.
        """
        digest = hashlib.sha256(f"{self.pseudo.stack_name}/{logical_id}".encode()).digest()
        suffix = b32encode(digest).decode()[:12]
        budget = max_length - len(suffix) - 2
        stack = self.pseudo.stack_name[: max(budget - len(logical_id), budget // 2)]
        name = f"{stack}-{logical_id[: budget - len(stack)]}-{suffix}"
        return name.lower() if lowercase else name

    def arn(self, service: str, resource: str) -> str:
        pseudo = self.pseudo
        return f"arn:{pseudo.partition}:{service}:{pseudo.region}:{pseudo.account_id}:{resource}"

    def artifact(self, location: Mapping[str, Any], bucket: str, key: str) -> Path:
        """The local path behind a packaged location; anything else cannot run locally."""
        if location.get(bucket) == ARTIFACT_BUCKET and location.get(key) in self.artifacts:
            return self.artifacts[location[key]]
        if bucket == "S3Bucket" and isinstance(location.get(bucket), str):
            # A packaged template's zip in a real bucket (fleetpatch package --stackset).
            body = s3_artifacts.fetch(
                location[bucket],
                str(location.get(key)),
                region=self.pseudo.region,
                account=self.pseudo.account_id,
                org_id=self.cloud.iam.org_id,
            )
            return s3_artifacts.extracted(body)
        raise TemplateError(
            f"{location!r} is not a local path of the template; "
            "the local cloud runs code and definitions from the template's directories"
        )


def conform(value: Any, shape: Shape) -> Any:
    """``value`` with scalars converted to the types ``shape`` (an API input) declares."""
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: conform(v, members[k]) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [conform(item, shape.member) for item in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: conform(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if shape.type_name in {"integer", "long"} and isinstance(value, str):
        return int(value)
    if shape.type_name in {"float", "double"} and isinstance(value, str | int):
        return float(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if shape.type_name == "string" and isinstance(value, bool | int | float):
        return as_text(value, shape.name)
    return value
