"""What botocore and moto spend on each in-process request that no local answer depends on.

Every API call a handler or a state machine makes on the local cloud goes through botocore
and moto in this process. Profiled (cProfile, 2,000 DynamoDB PutItem/GetItem calls by a
handler's client, and py-spy over a 50-launch scale-out), three costs came from work whose
result nobody reads here:

- **The User-Agent header.** botocore renders ~30 components per request, twice, each
  sanitized character by character: ~10 % of a call. The components are immutable tuples,
  so each is rendered once per process and looked up afterwards; the header is the same.
- **The SigV4 signature.** botocore hashes the canonical request and chains four HMACs:
  ~13 % of a call. Nothing on the local cloud verifies a signature (moto does not; the IAM
  enforcer knows the caller from its context, the rate limiter reads the credential scope).
  The request is signed as before, with the same headers (X-Amz-Date, the security token,
  ``Authorization`` with the same Credential scope and SignedHeaders), and a signature of
  64 zeros. S3's signers (payload hashing) and presigned URLs are left as they are.
- **A new client for every state machine task.** moto's Step Functions interpreter builds
  a boto3 client for each Lambda, SDK or DynamoDB task it runs (``boto_client_for``): ~7 %
  of a scale-out. The client for a (session, region, service) is built once and reused;
  botocore clients are safe to share between threads, and moto's interpreter passes no
  credentials of its own to them (the caller's identity is the enforcer's context).

- **Request ids.** moto draws each response's 52-character request id one character at a
  time (``random.choice`` 52 times): ~8 % of a DynamoDB call. ``random.choices`` draws the
  same kind of string from the same (seedable) generator in one call.

None changes what any API answers: the canaries in
tests/unit/localcloud/test_moto_canaries_request_cost.py check the internals these rely on.
"""

from __future__ import annotations

import functools
import string
import sys
import threading
from typing import Any

import boto3
import botocore.auth
import botocore.useragent
from botocore.exceptions import NoCredentialsError

from localcloud.core import motopatch

TAG = "_fleetpatch_request_cost"
UNVERIFIED_SIGNATURE = "0" * 64

# --- the User-Agent header --------------------------------------------------------------------


def _render_once(original: Any) -> Any:
    render = functools.lru_cache(maxsize=4096)(original)

    def to_string(self: botocore.useragent.UserAgentComponent) -> str:
        result: str = render(self)
        return result

    return to_string


# --- the SigV4 signature ----------------------------------------------------------------------


def _sign_unverified(original: Any) -> Any:
    def add_auth(self: Any, request: Any) -> None:
        if type(self) is not botocore.auth.SigV4Auth:
            # S3 (payload hashing, chunked uploads) and query signing: as botocore does it.
            original(self, request)
            return
        signer: Any = self  # botocore's private steps, as add_auth runs them
        if signer.credentials is None:
            raise NoCredentialsError()
        now = botocore.auth.get_current_datetime()  # type: ignore[attr-defined]
        request.context["timestamp"] = now.strftime(botocore.auth.SIGV4_TIMESTAMP)
        signer._modify_request_before_signing(request)
        signer._inject_signature_to_request(request, UNVERIFIED_SIGNATURE)

    return add_auth


# --- request ids ----------------------------------------------------------------------------


def _draw_at_once(original: Any) -> Any:
    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        drawn = "".join(self.choices(pool, k=length))
        return drawn.lower() if lower_case else drawn

    return get_random_string


# --- one client per state machine task --------------------------------------------------------

_clients_lock = threading.Lock()
# (region, service) -> (the session it was built in, the client)
_clients: dict[tuple[str, str], tuple[Any, Any]] = {}
_PARSER = "moto.stepfunctions.parser"
# The interpreter's modules that build a client with ``boto_client_for``, each imported by name
# (the canary walks the whole parser for any other).
_TASK_MODULES = tuple(
    f"{_PARSER}.asl.component.state.exec.{name}"
    for name in (
        "state_task.lambda_eval_utils",
        "state_task.service.state_task_service_aws_sdk",
        "state_task.service.state_task_service_dynamodb",
        "state_task.service.state_task_service_events",
        "state_task.service.state_task_service_sfn",
        "state_task.service.state_task_service_sns",
        "state_task.service.state_task_service_sqs",
        "state_task.service.state_task_service_batch",
        "state_task.service.state_task_service_ecs",
        "state_task.service.state_task_service_glue",
        "state_task.service.state_task_service_unsupported",
        "state_map.item_reader.eval.resource_eval_s3",
        "state_map.result_writer.resource_eval.resource_eval_s3",
    )
)


def _shared_client(original: Any) -> Any:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto replaces boto3's default session when a mock starts: a client belongs to the
        # session it was built in (its event hooks are copied from it at creation).
        session = boto3._get_default_session()
        with _clients_lock:
            built = _clients.get((region, service))
            if built is None or built[0] is not session:
                built = _clients[(region, service)] = (
                    session,
                    original(region, service, state_credentials),
                )
            return built[1]

    return boto_client_for


def install() -> None:
    import importlib

    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.stepfunctions.parser.asl.utils import boto_client

    motopatch.patch(MotoRandom, "get_random_string", _draw_at_once, tag=TAG)
    motopatch.patch(botocore.useragent.UserAgentComponent, "to_string", _render_once, tag=TAG)
    motopatch.patch(botocore.auth.SigV4Auth, "add_auth", _sign_unverified, tag=TAG)
    original = boto_client.boto_client_for
    if motopatch.patch(boto_client, "boto_client_for", _shared_client, tag=TAG):
        shared = boto_client.boto_client_for
        # Each task module imported the function by name: point every one at the shared one.
        for name in _TASK_MODULES:
            importlib.import_module(name)
        for name, module in list(sys.modules.items()):
            if name.startswith(_PARSER) and getattr(module, "boto_client_for", None) is original:
                module.boto_client_for = shared  # type: ignore[attr-defined]
