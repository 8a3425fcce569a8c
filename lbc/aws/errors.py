"""AWS failures turned into lbc's error kinds, decided once, here, for every caller.

botocore raises two families: ``ClientError`` (AWS answered with an error code) and
``BotoCoreError`` (no usable answer: connection refused, timeouts, bad parameters, missing
credentials). By the time either reaches us botocore's retryer has already spent its attempts on
throttling, 5xx and connection errors, so what remains is classified for the reconciler:

- the target group is gone, or the ARN is malformed →
  :class:`~lbc.core.errors.TargetGroupNotFoundError` (NotFound kind; reason
  ``TargetGroupNotFound`` or ``InvalidTargetGroupArn``);
- AWS refuses the request as such (``InvalidTarget``, ``ValidationError``, quotas)
  → :class:`~lbc.core.errors.TerminalError` carrying AWS's own message;
- AWS refuses the caller (``AccessDenied``, ``UnauthorizedOperation``…) →
  :class:`~lbc.core.errors.AccessError` (reason ``AccessDenied``): retried with backoff, because
  the fix is an IAM change no Kubernetes event announces;
- still throttled → :class:`~lbc.core.errors.ThrottledError` (transient, reason ``Throttled``);
- 5xx, timeouts, connections, expired credentials, and any code we do not know
  → :class:`~lbc.core.errors.TransientError`.

Unknown codes are transient on purpose: a backoff retry of a call we misjudge costs a few calls,
while a wrong "terminal" verdict parks a binding until its inputs change.

The :func:`outcome` labels are the ``outcome`` values of the call metrics; they form a small
closed set so that dashboards can enumerate them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)

from lbc.core.errors import (
    AccessError,
    LbcError,
    NotFoundError,
    TargetGroupNotFoundError,
    TerminalError,
    ThrottledError,
    TransientError,
)

THROTTLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)
"""Error codes that mean "slow down" (botocore's list, minus quota codes that are not rates)."""

_TERMINAL_CODES: Final = {
    "InvalidTarget": "InvalidTarget",
    "ValidationError": "ValidationError",
    "InvalidParameterValue": "ValidationError",
    "InvalidParameterCombination": "ValidationError",
    "MissingParameter": "ValidationError",
    "TooManyTargets": "TooManyTargets",
    "TooManyRegistrationsForTargetId": "TooManyTargets",
    "TargetGroupAssociationLimit": "TooManyTargets",
}
"""AWS codes that retrying cannot fix, mapped to the condition reason lbc reports."""

_ACCESS_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "OperationNotPermitted",
    }
)
"""AWS codes that refuse the caller's identity or permissions."""

_NOT_FOUND_CODES: Final = {
    "InvalidVpcID.NotFound": "VpcNotFound",
    "LoadBalancerNotFound": "LoadBalancerNotFound",
}

OUTCOMES: Final = (
    "success",
    "throttled",
    "not_found",
    "rejected",
    "server_error",
    "timeout",
    "unreachable",
    "error",
    "cancelled",
)


def error_code(exc: ClientError) -> str:
    response: Mapping[str, Any] = exc.response
    return str(response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    response: Mapping[str, Any] = exc.response
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def _status(exc: ClientError) -> int:
    response: Mapping[str, Any] = exc.response
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


def classify(exc: ClientError | BotoCoreError | TimeoutError, operation: str) -> LbcError:
    """The lbc error for a failed AWS call; the message names the operation and AWS's words."""
    if isinstance(exc, TimeoutError):
        return TransientError(f"{operation}: no answer before the deadline", reason="AwsTimeout")
    if isinstance(exc, ParamValidationError):
        # Our request was malformed before it left the process: retrying sends the same bytes.
        return TerminalError(f"{operation}: {exc}", reason="ValidationError")
    if isinstance(exc, NoCredentialsError):
        # Credentials often appear later (IRSA token mounted, IMDS answering again).
        return TransientError(f"{operation}: {exc}", reason="NoCredentials")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{operation}: {exc}", reason="AwsUnreachable")
    code = error_code(exc)
    message = f"{operation}: {code}: {_error_message(exc)}"
    if code == "TargetGroupNotFound":
        return TargetGroupNotFoundError(message)
    if code == "ValidationError" and "not a valid target group ARN" in message:
        # A malformed ARN names no group at all: for the reconciler it is a missing group
        # (condition, event, and nothing to clean up on deletion), with its own reason.
        return TargetGroupNotFoundError(message, reason="InvalidTargetGroupArn")
    if code in _NOT_FOUND_CODES:
        return NotFoundError(message, reason=_NOT_FOUND_CODES[code])
    if code in THROTTLE_CODES or _status(exc) == 429:
        return ThrottledError(message)
    if code in _ACCESS_CODES:
        return AccessError(message, reason="AccessDenied")
    if code in _TERMINAL_CODES:
        return TerminalError(message, reason=_TERMINAL_CODES[code])
    if _status(exc) >= 500:
        return TransientError(message, reason="AwsServerError")
    return TransientError(message, reason="AwsError")


def outcome(error: LbcError | None) -> str:
    """The ``outcome`` label of a call that ended with ``error`` (``None``: it succeeded)."""
    if error is None:
        return "success"
    if isinstance(error, ThrottledError):
        return "throttled"
    if isinstance(error, NotFoundError):
        return "not_found"
    if isinstance(error, TerminalError | AccessError):
        return "rejected"
    return {
        "AwsServerError": "server_error",
        "AwsTimeout": "timeout",
        "AwsUnreachable": "unreachable",
    }.get(error.reason, "error")
