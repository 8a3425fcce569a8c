"""One guarded AWS call: budget spent first, deadline kept, outcome counted, errors classified."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError
from lbc.aws.calls import AwsCalls
from lbc.aws.ratelimit import RateLimits
from lbc.clock import VirtualClock
from lbc.core.errors import TargetGroupNotFoundError, TransientError
from lbc.observe.metrics import REGISTRY

from tests.unit.aws.timing import drive


def calls_total(operation: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "lbc_aws_api_calls_total",
        {"service": "elbv2", "operation": operation, "outcome": outcome},
    )
    return 0.0 if value is None else value


def generous() -> RateLimits:
    return RateLimits.per_second(1000, 1000)


async def test_an_answer_is_returned_and_counted_as_success() -> None:
    async def describe(**params: Any) -> dict[str, Any]:
        return {"TargetHealthDescriptions": [], "asked": params}

    before = calls_total("DescribeTargetHealth", "success")
    answer = await AwsCalls(generous()).call(
        "elbv2", "DescribeTargetHealth", describe, TargetGroupArn="arn"
    )
    assert answer["asked"] == {"TargetGroupArn": "arn"}
    assert calls_total("DescribeTargetHealth", "success") == before + 1


async def test_an_aws_error_leaves_classified_and_chained() -> None:
    async def register(**_: Any) -> dict[str, Any]:
        raise ClientError(  # a partial response, as botocore builds them from an error body
            {
                "Error": {
                    "Code": "TargetGroupNotFound",
                    "Message": "One or more target groups not found",
                }
            },
            "RegisterTargets",
        )

    before = calls_total("RegisterTargets", "not_found")
    with pytest.raises(TargetGroupNotFoundError) as caught:
        await AwsCalls(generous()).call("elbv2", "RegisterTargets", register)
    assert isinstance(caught.value.__cause__, ClientError)
    assert "One or more target groups not found" in caught.value.message
    assert calls_total("RegisterTargets", "not_found") == before + 1


async def test_a_call_without_an_answer_ends_at_its_deadline() -> None:
    async def silent(**_: Any) -> dict[str, Any]:
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(TransientError) as caught:
        await AwsCalls(generous(), timeout=0.05).call("elbv2", "DeregisterTargets", silent)
    assert caught.value.reason == "AwsTimeout"


async def test_cancellation_passes_through_unconverted() -> None:
    started = anyio.Event()

    async def silent(**_: Any) -> dict[str, Any]:
        started.set()
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    before = calls_total("ModifyTargetGroup", "cancelled")
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(AwsCalls(generous()).call, "elbv2", "ModifyTargetGroup", silent)
            with anyio.fail_after(5):
                await started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert calls_total("ModifyTargetGroup", "cancelled") == before + 1


async def test_each_call_spends_its_operation_budget_before_it_is_sent() -> None:
    clock = VirtualClock(start=0.0)
    limits = RateLimits.per_second(2, 100, clock=clock)
    sent_at: list[float] = []

    async def register(**_: Any) -> dict[str, Any]:
        sent_at.append(clock.now())
        return {}

    calls = AwsCalls(limits)

    async def caller() -> None:
        for _ in range(4):
            await calls.call("elbv2", "RegisterTargets", register)

    await drive(clock, caller)
    assert sent_at == [0.0, 0.0, 0.5, 1.0]


async def test_one_accounts_spent_budget_never_delays_another_accounts_calls() -> None:
    clock = VirtualClock(start=0.0)

    def limits() -> RateLimits:
        return RateLimits.per_second(1, 100, clock=clock)

    sent: list[tuple[str, float]] = []

    def register(account: str) -> Any:
        async def send(**_: Any) -> dict[str, Any]:
            sent.append((account, clock.now()))
            return {}

        return send

    calls = AwsCalls(limits(), account_limits=limits)
    busy, quiet = calls.for_account("111111111111"), calls.for_account("222222222222")
    assert calls.for_account("111111111111") is busy

    async def caller() -> None:
        for _ in range(3):
            await busy.call("elbv2", "RegisterTargets", register("busy"))
        await quiet.call("elbv2", "RegisterTargets", register("quiet"))

    await drive(clock, caller)
    assert sent == [("busy", 0.0), ("busy", 1.0), ("busy", 2.0), ("quiet", 2.0)]
    assert clock.now() == 2.0  # the quiet account's call waited for nothing


def test_calls_without_per_account_limits_share_one_budget() -> None:
    calls = AwsCalls(generous())
    assert calls.for_account("111111111111") is calls
