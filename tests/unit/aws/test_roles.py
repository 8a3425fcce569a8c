"""Assumed-role credentials: one source per (role, external id), refreshed by botocore in time.

The clock is injected (``time_fetcher``), so the refresh windows (botocore's: advisory 15 minutes
before expiry, mandatory 10 minutes before) are crossed without waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiobotocore.credentials import AioDeferredRefreshableCredentials
from botocore.exceptions import ClientError
from lbc.aws.calls import AwsCalls
from lbc.aws.ratelimit import RateLimits
from lbc.aws.roles import Role, RoleCredentials, role_of, session_name
from lbc.core.errors import AccessError, TransientError

ROLE = Role("arn:aws:iam::222222222222:role/lbc-shared", "ext-1")
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class FakeSts:
    """AssumeRole answering with numbered credentials valid for an hour from the clock's now."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.requests: list[dict[str, Any]] = []
        self.failing: str | None = None

    async def assume_role(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        if self.failing is not None:
            raise ClientError(
                {
                    "Error": {"Code": self.failing, "Message": "not authorized to assume"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "AssumeRole",
            )
        n = len(self.requests)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": self.clock.now + LIFETIME,
            }
        }


def credentials(clock: Clock, sts: FakeSts) -> RoleCredentials:
    calls = AwsCalls(RateLimits.per_second(1000, 1000))
    return RoleCredentials(sts.assume_role, calls, session_name="lbc-a", time_fetcher=clock)


async def assumed() -> tuple[Clock, FakeSts, AioDeferredRefreshableCredentials]:
    """ROLE's credentials, fetched once at START: (the clock, STS, the credentials)."""
    clock = Clock()
    sts = FakeSts(clock)
    creds = credentials(clock, sts).credentials(ROLE)
    await creds.get_frozen_credentials()
    return clock, sts, creds


async def test_nothing_is_assumed_until_a_request_needs_the_credentials() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    source = credentials(clock, sts)
    source.credentials(ROLE)
    assert sts.requests == []


async def test_one_role_shares_one_set_of_credentials_and_one_sts_call() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    source = credentials(clock, sts)
    first = source.credentials(ROLE)
    assert source.credentials(Role(ROLE.arn, ROLE.external_id)) is first
    for _ in range(5):
        frozen = await first.get_frozen_credentials()
    assert frozen.access_key == "ASIA1"
    assert len(sts.requests) == 1


async def test_another_external_id_never_gets_the_credentials_of_the_first() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    source = credentials(clock, sts)
    right = await source.credentials(ROLE).get_frozen_credentials()
    other = await source.credentials(Role(ROLE.arn, "ext-2")).get_frozen_credentials()
    assert right.access_key != other.access_key
    assert [r.get("ExternalId") for r in sts.requests] == ["ext-1", "ext-2"]
    assert len(source) == 2


async def test_assume_role_names_the_role_session_and_external_id() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    source = credentials(clock, sts)
    await source.credentials(ROLE).get_frozen_credentials()
    await source.credentials(Role("arn:aws:iam::222222222222:role/plain")).get_frozen_credentials()
    assert sts.requests[0] == {
        "RoleArn": ROLE.arn,
        "RoleSessionName": "lbc-a",
        "DurationSeconds": 3600,
        "ExternalId": "ext-1",
    }
    assert "ExternalId" not in sts.requests[1]


async def test_credentials_are_kept_until_the_advisory_window_then_refreshed() -> None:
    clock, sts, creds = await assumed()
    clock.now = START + LIFETIME - timedelta(minutes=16)
    assert (await creds.get_frozen_credentials()).access_key == "ASIA1"
    assert len(sts.requests) == 1
    clock.now = START + LIFETIME - timedelta(minutes=14)
    assert (await creds.get_frozen_credentials()).access_key == "ASIA2"
    assert len(sts.requests) == 2


async def test_a_failed_advisory_refresh_keeps_the_valid_credentials() -> None:
    clock, sts, creds = await assumed()
    sts.failing = "AccessDenied"
    clock.now = START + LIFETIME - timedelta(minutes=12)
    assert (await creds.get_frozen_credentials()).access_key == "ASIA1"


async def test_a_failed_mandatory_refresh_is_an_assume_role_failure() -> None:
    clock, sts, creds = await assumed()
    sts.failing = "AccessDenied"
    clock.now = START + LIFETIME - timedelta(minutes=5)
    with pytest.raises(AccessError) as caught:
        await creds.get_frozen_credentials()
    assert caught.value.reason == "AssumeRoleFailed"
    # Healed in IAM: the next request refreshes and succeeds, no restart needed.
    sts.failing = None
    assert (await creds.get_frozen_credentials()).access_key.startswith("ASIA")


async def test_a_refused_assume_role_is_retried_with_backoff_and_keeps_the_aws_words() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.failing = "AccessDenied"
    with pytest.raises(AccessError) as caught:
        await credentials(clock, sts).credentials(ROLE).get_frozen_credentials()
    err = caught.value
    assert isinstance(err, TransientError)  # the worker's backoff path, not "terminal"
    assert err.reason == "AssumeRoleFailed"
    assert "not authorized to assume" in err.message
    assert ROLE.arn in err.message
    assert "ext-1" not in err.message  # the external id is a shared secret of sorts


async def test_a_malformed_role_arn_fails_without_asking_sts() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    with pytest.raises(AccessError, match="not an IAM role ARN"):
        await credentials(clock, sts).credentials(Role("lbc-shared")).get_frozen_credentials()
    assert sts.requests == []


def test_a_binding_without_a_role_names_none() -> None:
    assert role_of("", "ext") is None
    assert role_of(ROLE.arn, "ext-1") == ROLE
    assert ROLE.account == "222222222222"


def test_the_session_name_carries_the_cluster_within_sts_limits() -> None:
    assert session_name("prod/eu west") == "lbc-prod-eu-west"
    assert session_name(None) == "lbc"
    assert len(session_name("c" * 100)) == 64


async def test_a_failed_refresh_leaves_no_plain_text_traceback_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # lbc reports it as structured data; botocore's own warning would be a multi-line
    # traceback on stderr on every retry.
    clock = Clock()
    sts = FakeSts(clock)
    sts.failing = "AccessDenied"
    with caplog.at_level("WARNING"), pytest.raises(AccessError):
        await credentials(clock, sts).credentials(ROLE).get_frozen_credentials()
    assert not [r for r in caplog.records if "Refreshing temporary credentials" in r.message]
