"""Every AWS failure leaves the adapter as the lbc error kind the reconciler acts on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)
from lbc.aws.errors import classify, outcome
from lbc.core.errors import (
    AccessError,
    NotFoundError,
    TargetGroupNotFoundError,
    TerminalError,
    ThrottledError,
    TransientError,
)


def client_error(code: str, status: int = 400, message: str = "aws says no") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "RegisterTargets")


def test_target_group_not_found_is_a_not_found_kind_with_its_own_reason() -> None:
    err = classify(client_error("TargetGroupNotFound"), "RegisterTargets")
    assert isinstance(err, TargetGroupNotFoundError)
    assert isinstance(err, NotFoundError)
    assert err.reason == "TargetGroupNotFound"
    assert outcome(err) == "not_found"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidTarget", "InvalidTarget"),
        ("ValidationError", "ValidationError"),
        ("TooManyTargets", "TooManyTargets"),
    ],
)
def test_rejected_requests_are_terminal_and_keep_the_aws_message(code: str, reason: str) -> None:
    err = classify(client_error(code, message="The following targets are not valid"), "Op")
    assert type(err) is TerminalError
    assert err.reason == reason
    assert "The following targets are not valid" in err.message
    assert code in err.message
    assert outcome(err) == "rejected"


@pytest.mark.parametrize("code", ["AccessDenied", "UnauthorizedOperation", "AccessDeniedException"])
def test_refused_permissions_are_retried_with_backoff_and_keep_the_aws_message(code: str) -> None:
    # The fix is an IAM change, which no Kubernetes event announces: a terminal verdict would
    # park the binding until someone edits it.
    err = classify(client_error(code, message="not authorized to perform"), "RegisterTargets")
    assert isinstance(err, AccessError)
    assert isinstance(err, TransientError)
    assert err.reason == "AccessDenied"
    assert "not authorized to perform" in err.message
    assert outcome(err) == "rejected"


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling_left_after_sdk_retries_is_transient_throttled(code: str) -> None:
    err = classify(client_error(code), "DescribeTargetHealth")
    assert isinstance(err, ThrottledError)
    assert isinstance(err, TransientError)
    assert err.reason == "Throttled"
    assert outcome(err) == "throttled"


def test_http_429_without_a_known_code_is_throttled() -> None:
    assert isinstance(classify(client_error("Whatever", status=429), "Op"), ThrottledError)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status: int) -> None:
    err = classify(client_error("ServiceUnavailable", status=status), "Op")
    assert type(err) is TransientError
    assert err.reason == "AwsServerError"
    assert outcome(err) == "server_error"


def test_unknown_codes_are_transient_rather_than_parking_the_binding() -> None:
    err = classify(client_error("SomethingNewFromAws"), "Op")
    assert type(err) is TransientError


def test_connection_failures_and_timeouts_are_transient() -> None:
    refused = classify(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "Op")
    slow = classify(ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), "Op")
    deadline = classify(TimeoutError(), "Op")
    assert {type(refused), type(slow), type(deadline)} == {TransientError}
    assert outcome(refused) == "unreachable"
    assert outcome(deadline) == "timeout"


def test_missing_credentials_are_transient_and_bad_parameters_terminal() -> None:
    assert type(classify(NoCredentialsError(), "Op")) is TransientError
    bad = classify(ParamValidationError(report="Port must be an integer"), "Op")
    assert type(bad) is TerminalError
    assert "Port must be an integer" in bad.message


def test_success_outcome() -> None:
    assert outcome(None) == "success"


def test_a_malformed_arn_counts_as_a_missing_group_with_its_own_reason() -> None:
    err = classify(
        client_error("ValidationError", message="'arn:x' is not a valid target group ARN"),
        "DescribeTargetHealth",
    )
    assert isinstance(err, TargetGroupNotFoundError)
    assert err.reason == "InvalidTargetGroupArn"
