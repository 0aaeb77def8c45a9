"""The CLI's one error boundary: an ordinary problem is one line, ``fleetpatch CMD: why``, exit 2.

Ordinary problems are the operator's environment, not fleetpatch's code: no credentials or
region, an endpoint that does not answer, AWS refusing a call, a file that is missing or
invalid, a reader that closed the pipe. Every other exception is a bug and keeps its
traceback, so it is seen and reported.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)
from pydantic import ValidationError

from fleetpatch_authoring.yamlfile import InvalidFileError

EXIT_INVALID = 2

# ClientError codes that say the caller, not the request, is the problem.
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException"}


_Kinds = type[BaseException] | tuple[type[BaseException], ...]


class ConflictError(Exception):
    """Another operator (or another run of this command) got there first; the message says who."""


def command_name(args: argparse.Namespace) -> str:
    """``plan``, ``wave start``: the words that named the command."""
    words = [getattr(args, "command", None), getattr(args, "action", None)]
    return " ".join(w for w in words if w)


def _client_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).strip()
    call = exc.operation_name
    if code in _EXPIRED:
        return "your AWS credentials have expired: sign in again (e.g. aws sso login)"
    if code in _BAD_CREDENTIALS:
        return f"AWS does not accept your credentials ({code}): check --profile and the keys"
    if code in _DENIED:
        return f"access denied to {call}: {message or code}"
    if code in _THROTTLED:
        return f"AWS throttled {call}: try again in a minute"
    return f"AWS refused {call}: {code}: {message}" if message else f"AWS refused {call}: {code}"


def _validation_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or exc.title
    more = exc.error_count() - 1
    also = f" (and {more} more)" if more else ""
    return f"{exc.title} is not valid: {where}: {first['msg']}{also}"


def explain(exc: BaseException) -> str | None:
    """Why the command failed, in one line; None for an exception that is a bug."""
    known: list[tuple[_Kinds, Callable[..., str]]] = [
        (
            NoCredentialsError,
            lambda e: (
                "no AWS credentials: pass --profile, set AWS_PROFILE, or sign in "
                "(aws configure, aws sso login)"
            ),
        ),
        (
            NoRegionError,
            lambda e: (
                "no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)"
            ),
        ),
        (ProfileNotFound, lambda e: f"no AWS profile {e.kwargs['profile']} in your AWS config"),
        (PartialCredentialsError, lambda e: f"incomplete AWS credentials: {e}"),
        ((SSOError, TokenRetrievalError, CredentialRetrievalError), str),
        (
            (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError),
            lambda e: (
                f"cannot reach {e.kwargs['endpoint_url']}: is it up (for the local "
                "cloud: fleetpatch local up), and are --endpoint-url and --region right?"
            ),
        ),
        (
            ReadTimeoutError,
            lambda e: f"no answer from {e.kwargs['endpoint_url']} in time: try again",
        ),
        (
            HTTPClientError,
            lambda e: (
                f"cannot talk to {e.kwargs.get('endpoint_url') or 'AWS'}: {e.kwargs['error']}"
            ),
        ),
        (ClientError, _client_error),
        (ParamValidationError, lambda e: f"AWS call not sent: {e}"),
        (ConflictError, str),
        (
            (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError),
            lambda e: f"cannot read {e.filename}: {e.strerror}" if e.filename else str(e),
        ),
        (ValidationError, _validation_error),
    ]
    for kinds, why in known:
        if isinstance(exc, kinds):
            return " ".join(why(exc).split())
    return None


def run_command(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """``command(args)``, its ordinary problems on stderr as ``fleetpatch CMD: why`` (exit 2)."""
    name = command_name(args)
    try:
        code = command(args)
        sys.stdout.flush()  # inside: a reader that went away is seen here, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`fleetpatch plan --json | head`): nothing to say to it. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INVALID
    except InvalidFileError as exc:
        for error in exc.errors:
            print(str(error), file=sys.stderr)
        count = len(exc.errors)
        print(f"fleetpatch {name}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print(f"fleetpatch {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        why = explain(exc)
        if why is None:
            raise  # a bug: its traceback is what the report needs
        print(f"fleetpatch {name}: {why}", file=sys.stderr)
        return EXIT_INVALID
