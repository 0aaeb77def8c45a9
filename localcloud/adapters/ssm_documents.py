"""Command documents other than the patch ones, as SendCommand resolves them on the local cloud.

A hook or a health check is a Command document: AWS's AWS-RunShellScript or
AWS-RunPowerShellScript, or one the account created (CreateDocument, as the SAM template
does with ``AWS::SSM::Document``). SendCommand checks that it exists, is a Command document
and gets the parameters it declares; the fleet then runs it (localcloud.sim.fleet) and
writes its output under the step that applies to the instance's platform:

* schema 1.2 (``runtimeConfig``, AWS-RunShellScript): ``awsrunShellScript/0.awsrunShellScript``
  (plugin ``aws:runShellScript``);
* schema 2.2 (``mainSteps``): ``awsrunShellScript/<step name>``, the first step whose
  ``platformType`` precondition (if any) is the instance's.

moto internals read (canaries in tests/unit/localcloud/test_moto_canaries_ssm.py):
``SimpleSystemManagerBackend._get_documents`` (raises ``InvalidDocument``),
``Documents.get_default_version``, ``Document.document_type``, ``.content_json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from localcloud.adapters.ssm_api import SsmApiError

# AWS's own command documents (schema 1.2), which moto does not carry: their plugin and
# parameters, from the documents' content as SSM shows it (GetDocument).
_AWS_DOCUMENTS: dict[str, dict[str, Any]] = {
    "AWS-RunShellScript": {
        "schemaVersion": "1.2",
        "parameters": {
            "commands": {"type": "StringList"},
            "workingDirectory": {"type": "String", "default": ""},
            "executionTimeout": {"type": "String", "default": "3600"},
        },
        "runtimeConfig": {"aws:runShellScript": {}},
    },
    "AWS-RunPowerShellScript": {
        "schemaVersion": "1.2",
        "parameters": {
            "commands": {"type": "StringList"},
            "workingDirectory": {"type": "String", "default": ""},
            "executionTimeout": {"type": "String", "default": "3600"},
        },
        "runtimeConfig": {"aws:runPowerShellScript": {}},
    },
}

Plugins = dict[str, tuple[str, str]]  # platform type -> (output folder, step name)


def _folder(action: str) -> str:
    return action.replace(":", "")


def _content(backend: Any, name: str) -> dict[str, Any]:
    if name in _AWS_DOCUMENTS:
        return _AWS_DOCUMENTS[name]
    document = backend._get_documents(name).get_default_version()  # InvalidDocument if none
    if document.document_type != "Command":
        raise SsmApiError(
            "InvalidDocument",
            f"Document {name} is of type {document.document_type}; SendCommand runs Command "
            "documents.",
        )
    content: dict[str, Any] = document.content_json
    return content


def _precondition_platform(step: Mapping[str, Any]) -> str | None:
    values = (step.get("precondition") or {}).get("StringEquals") or []
    return next((v for v in values if v in {"Linux", "Windows", "MacOS"}), None)


def _plugins(content: Mapping[str, Any]) -> Plugins:
    if "runtimeConfig" in content:
        action = next(iter(content["runtimeConfig"]), "aws:runShellScript")
        folder = _folder(action)
        return {p: (folder, f"0.{folder}") for p in ("Linux", "Windows")}
    plugins: Plugins = {}
    for step in content.get("mainSteps") or []:
        folder, name = _folder(str(step.get("action", ""))), str(step.get("name", ""))
        platform = _precondition_platform(step)
        for p in [platform] if platform else ["Linux", "Windows"]:
            plugins.setdefault(p, (folder, name))
    return plugins


def _check_parameters(
    name: str, declared: Mapping[str, Any], given: Mapping[str, Sequence[str]]
) -> None:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SsmApiError("InvalidParameters", f"Parameters {unknown} are not valid for {name}.")
    missing = sorted(
        p for p, spec in declared.items() if "default" not in (spec or {}) and p not in given
    )
    if missing:
        raise SsmApiError(
            "InvalidParameters", f"Parameters {missing} are required by {name} and missing."
        )


def command_plugins(
    backend: Any, document: str, parameters: Mapping[str, Sequence[str]]
) -> Plugins:
    """The document's step per platform; raises SsmApiError as SendCommand does."""
    name = document.rsplit("document/", 1)[-1]
    content = _content(backend, name)
    _check_parameters(name, content.get("parameters") or {}, parameters)
    return _plugins(content)


def plugin_name(step: str) -> str:
    """GetCommandInvocation's PluginName of a step (schema 1.2: the plugin itself)."""
    if step.startswith("0.aws"):
        return "aws:" + step.removeprefix("0.aws")
    return step
