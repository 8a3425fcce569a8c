"""Metrics of the AWS adapter, and the botocore hook that sees every HTTP attempt.

A call (one ``register`` batch, one ``DescribeTargetHealth``) is counted once in
``lbc_aws_api_calls_total`` with its final outcome. botocore retries throttled and failed attempts
inside that call, invisibly to the caller; the hook on botocore's ``response-received`` event
counts each attempt (``lbc_aws_api_requests_total``) and each throttle answer
(``lbc_aws_throttles_total``), including the ones a retry later hid, because those are what tell
an operator that the client-side rate limit is set too high.
"""

from __future__ import annotations

from typing import Any, Final

from lbc.aws.errors import THROTTLE_CODES
from lbc.observe.metrics import counter, histogram

CALLS: Final = counter(
    "lbc_aws_api_calls_total",
    "AWS API calls by final outcome (after the SDK's retries).",
    ["service", "operation", "outcome"],
)
CALL_DURATION: Final = histogram(
    "lbc_aws_api_call_duration_seconds",
    "Duration of AWS API calls, retries included, rate-limit wait excluded.",
    ["service", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REQUESTS: Final = counter(
    "lbc_aws_api_requests_total",
    "HTTP attempts made for AWS API calls (a call retried twice counts three).",
    ["service", "operation"],
)
THROTTLES: Final = counter(
    "lbc_aws_throttles_total",
    "Throttle answers from AWS, including those the SDK retried successfully.",
    ["service", "operation"],
)
RATE_LIMIT_WAIT: Final = histogram(
    "lbc_aws_rate_limit_wait_seconds",
    "Time a call waited for the client-side rate limit before being sent.",
    ["bucket"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class AttemptObserver:
    """botocore ``response-received`` handler counting attempts and throttles of one client."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __call__(
        self,
        *,
        event_name: str,
        parsed_response: dict[str, Any] | None = None,
        response_dict: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        REQUESTS.labels(self._service, operation).inc()
        if _is_throttle(parsed_response, response_dict):
            THROTTLES.labels(self._service, operation).inc()


def _is_throttle(parsed: dict[str, Any] | None, raw: dict[str, Any] | None) -> bool:
    if raw is not None and raw.get("status_code") == 429:
        return True
    if not parsed:
        return False
    error = parsed.get("Error")
    return isinstance(error, dict) and error.get("Code") in THROTTLE_CODES
