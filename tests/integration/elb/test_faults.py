"""Injected faults look like AWS's to botocore, change nothing, and are logged."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_target_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def describe_outcomes(elbv2: Any, arn: str, times: int) -> list[str]:
    """``ok`` or the error code of each of ``times`` DescribeTargetHealth calls, in order."""
    outcomes = []
    for _ in range(times):
        try:
            await elbv2.describe_target_health(TargetGroupArn=arn)
            outcomes.append("ok")
        except botocore.exceptions.ClientError as err:
            outcomes.append(err.response["Error"]["Code"])
    return outcomes


async def test_throttled_call_is_retried_by_standard_mode_and_counted(
    elb_lab: ElbLab, net: Network
) -> None:
    async with elb_lab.client("elbv2", retry_mode="standard", max_attempts=3) as elbv2:
        tg = await create_target_group(elbv2, net, "retried")
        elb_lab.control.throttle("RegisterTargets", count=1)
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 80}])
        answer = await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    assert len(answer["TargetHealthDescriptions"]) == 1
    calls = elb_lab.control.calls("RegisterTargets")
    assert [(c.outcome, c.status, c.injected) for c in calls] == [
        ("Throttling", 400, "throttle"),
        ("ok", 200, None),
    ]
    assert all(c.target_group_arn == tg.arn and c.target_count == 1 for c in calls)


async def test_throttling_error_reads_rate_exceeded(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "throttled")
    elb_lab.control.throttle("DescribeTargetHealth")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    error = caught.value.response
    assert error["Error"]["Code"] == "Throttling"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_injected_failure_changes_nothing(elb_lab: ElbLab, elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "untouched")
    elb_lab.control.throttle("RegisterTargets", count=1)
    with pytest.raises(botocore.exceptions.ClientError):
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 80}])
    answer = await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    assert answer["TargetHealthDescriptions"] == []


async def test_burst_pattern_throttles_exactly_the_chosen_calls(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "bursts")
    elb_lab.control.throttle("DescribeTargetHealth", skip=1, period=4, burst=2)
    outcomes = await describe_outcomes(elbv2, tg.arn, 9)
    t = "Throttling"
    assert outcomes == ["ok", t, t, "ok", "ok", t, t, "ok", "ok"]
    assert [c.outcome for c in elb_lab.control.calls("DescribeTargetHealth")] == outcomes


async def test_fractional_throttling_replays_identically_for_a_seed(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "seeded")

    async def run() -> list[bool]:
        throttled = []
        for _ in range(30):
            try:
                await elbv2.describe_target_health(TargetGroupArn=tg.arn)
                throttled.append(False)
            except botocore.exceptions.ClientError:
                throttled.append(True)
        return throttled

    elb_lab.control.throttle("DescribeTargetHealth", fraction=0.5)
    first = await run()
    elb_lab.control.clear_faults()
    mark = elb_lab.control.last_seq()
    # Same seed again: reset keeps the seed, so re-create the group and the rule.
    elb_lab.control.reset(seed=0)
    async with elb_lab.client("ec2") as ec2:
        from lbc_lab.elb_scenario import create_network

        tg = await create_target_group(elbv2, await create_network(ec2), "seeded")
    elb_lab.control.throttle("DescribeTargetHealth", fraction=0.5)
    assert await run() == first
    assert 0 < sum(first) < 30
    assert mark > 0


async def test_server_error_is_retried_by_standard_mode(elb_lab: ElbLab, net: Network) -> None:
    async with elb_lab.client("elbv2", max_attempts=3) as elbv2:
        tg = await create_target_group(elbv2, net, "five-hundred")
        elb_lab.control.fail("DeregisterTargets", status=503, code="ServiceUnavailable", count=2)
        await elbv2.deregister_targets(
            TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 80}]
        )
    outcomes = [(c.outcome, c.status) for c in elb_lab.control.calls("DeregisterTargets")]
    assert outcomes == [("ServiceUnavailable", 503), ("ServiceUnavailable", 503), ("ok", 200)]


async def test_added_latency_delays_the_answer(elb_lab: ElbLab, elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "slow")
    elb_lab.control.delay("DescribeTargetHealth", latency_ms=300)
    # A caller whose deadline is shorter than the latency gets no answer...
    async with elb_lab.client("elbv2", max_attempts=1, read_timeout=0.1) as impatient:
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            await impatient.describe_target_health(TargetGroupArn=tg.arn)
    # ...a patient one gets it, and the log holds both calls with their latency.
    await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    durations = [c.duration_ms for c in elb_lab.control.calls("DescribeTargetHealth")]
    assert len(durations) == 2
    assert min(durations) >= 300


async def test_token_bucket_throttles_calls_beyond_the_burst(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "bucket")
    elb_lab.control.rate_limit("DescribeTargetHealth", rate=0.01, burst=3)
    outcomes = await describe_outcomes(elbv2, tg.arn, 5)
    assert outcomes == ["ok", "ok", "ok", "Throttling", "Throttling"]
    injected = [c.injected for c in elb_lab.control.calls("DescribeTargetHealth")]
    assert injected == [None, None, None, "bucket", "bucket"]


async def test_ec2_throttling_uses_ec2_error_code(elb_lab: ElbLab) -> None:
    elb_lab.control.throttle("DescribeVpcs", service="ec2")
    async with elb_lab.client("ec2", max_attempts=1) as ec2:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            await ec2.describe_vpcs()
    assert caught.value.response["Error"]["Code"] == "RequestLimitExceeded"
