"""Each AWS failure, produced by the lab, reaches the caller classified, and is counted."""

from __future__ import annotations

import socket

import pytest
from lbc.aws.adapter import open_aws
from lbc.aws.calls import AwsCalls
from lbc.aws.elbv2 import TargetGroups
from lbc.aws.ratelimit import RateLimits
from lbc.aws.vpc import VpcDirectory
from lbc.core.errors import (
    NotFoundError,
    TargetGroupNotFoundError,
    TerminalError,
    ThrottledError,
    TransientError,
)
from lbc.core.targets import Target

from lbc_lab.elb_scenario import create_target_group
from lbc_lab.scenario import eventually

from .conftest import Adapter, lab_settings, metric

CALLS = "lbc_aws_api_calls_total"
REQUESTS = "lbc_aws_api_requests_total"
THROTTLES = "lbc_aws_throttles_total"


async def test_group_deleted_out_of_band_is_target_group_not_found_everywhere(
    adapter: Adapter,
) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "gone", attach=False)
    target = Target(adapter.network.ip(1), 80)
    await adapter.groups.register(tg.arn, [target])
    await adapter.groups.describe(tg.arn)
    await adapter.elbv2.delete_target_group(TargetGroupArn=tg.arn)
    before = metric(CALLS, service="elbv2", operation="DescribeTargetHealth", outcome="not_found")

    for attempt in (
        adapter.groups.describe(tg.arn, fresh=True),
        adapter.groups.register(tg.arn, [target]),
        adapter.groups.deregister(tg.arn, [target]),
        adapter.groups.describe_target_group(tg.arn),
    ):
        with pytest.raises(TargetGroupNotFoundError) as caught:
            await attempt
        assert isinstance(caught.value, NotFoundError)
        assert caught.value.reason == "TargetGroupNotFound"

    after = metric(CALLS, service="elbv2", operation="DescribeTargetHealth", outcome="not_found")
    assert after == before + 1


async def test_a_cached_view_is_not_served_after_the_group_is_gone(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "gone", attach=False)
    await adapter.groups.register(tg.arn, [Target(adapter.network.ip(1), 80)])
    await adapter.groups.describe(tg.arn)
    await adapter.elbv2.delete_target_group(TargetGroupArn=tg.arn)
    with pytest.raises(TargetGroupNotFoundError):
        await adapter.groups.describe(tg.arn, fresh=True)
    # The failed listing dropped the view: the next describe asks again instead of answering
    # from memory.
    with pytest.raises(TargetGroupNotFoundError):
        await adapter.groups.describe(tg.arn)


async def test_a_malformed_arn_is_a_missing_group_with_its_own_reason(adapter: Adapter) -> None:
    for attempt in (
        adapter.groups.describe("arn:not-a-target-group"),
        adapter.groups.deregister("arn:not-a-target-group", [Target("10.0.0.9", 80)]),
    ):
        with pytest.raises(TargetGroupNotFoundError) as caught:
            await attempt
        assert caught.value.reason == "InvalidTargetGroupArn"


async def test_unknown_instance_is_a_terminal_invalid_target(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "nodes", target_type="instance")
    with pytest.raises(TerminalError) as caught:
        await adapter.groups.register(tg.arn, [Target("i-0123456789abcdef0", 30080)])
    assert caught.value.reason == "InvalidTarget"
    assert "The specified target does not exist" in caught.value.message


async def test_a_non_ip_for_an_ip_group_is_refused_before_any_call(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    await adapter.groups.describe_target_group(tg.arn)
    mark = adapter.lab.control.last_seq()
    with pytest.raises(TerminalError) as caught:
        await adapter.groups.register(tg.arn, [Target("i-0123456789abcdef0", 80)])
    assert caught.value.reason == "InvalidTarget"
    assert adapter.lab.control.calls("RegisterTargets", since=mark) == []


async def test_group_quota_is_a_terminal_too_many_targets(adapter: Adapter) -> None:
    adapter.lab.control.configure(target_quota=5)
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    with pytest.raises(TerminalError) as caught:
        await adapter.groups.register(tg.arn, [Target(ip, 80) for ip in adapter.network.ips(6)])
    assert caught.value.reason == "TooManyTargets"


async def test_persistent_5xx_is_transient_after_the_sdk_retries(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    await adapter.groups.describe_target_group(tg.arn)
    adapter.lab.control.fail("RegisterTargets", status=503, code="ServiceUnavailable")
    before = metric(REQUESTS, service="elbv2", operation="RegisterTargets")
    with pytest.raises(TransientError) as caught:
        await adapter.groups.register(tg.arn, [Target(adapter.network.ip(1), 80)])
    assert type(caught.value) is TransientError
    assert caught.value.reason == "AwsServerError"
    attempts = metric(REQUESTS, service="elbv2", operation="RegisterTargets") - before
    assert attempts == adapter.settings.aws_max_attempts


async def test_persistent_throttling_is_throttled_and_every_answer_counted(
    adapter: Adapter,
) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    adapter.lab.control.throttle("DescribeTargetHealth")
    before = metric(THROTTLES, service="elbv2", operation="DescribeTargetHealth")
    failed_before = metric(
        CALLS, service="elbv2", operation="DescribeTargetHealth", outcome="throttled"
    )
    with pytest.raises(ThrottledError) as caught:
        await adapter.groups.describe(tg.arn)
    assert caught.value.reason == "Throttled"
    throttles = metric(THROTTLES, service="elbv2", operation="DescribeTargetHealth") - before
    assert throttles == adapter.settings.aws_max_attempts
    failed = metric(CALLS, service="elbv2", operation="DescribeTargetHealth", outcome="throttled")
    assert failed == failed_before + 1


async def test_a_silent_endpoint_hits_the_call_deadline(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    adapter.lab.control.delay("DescribeTargetHealth", latency_ms=1500)
    impatient = AwsCalls(RateLimits.per_second(10, 10), timeout=0.3)
    groups = TargetGroups(adapter.elbv2, impatient, VpcDirectory(adapter.ec2, impatient))
    with pytest.raises(TransientError) as caught:
        await groups.describe(tg.arn)
    assert caught.value.reason == "AwsTimeout"
    # Given up at the deadline: the lab, 1.5 s late, has not answered the call yet.
    assert adapter.lab.control.calls("DescribeTargetHealth") == []
    # It answers the abandoned call later; let it land in this test's call log, not in the
    # next test's. The condition lives in another process: there is no event to wait on.
    await eventually(
        lambda: adapter.lab.control.calls("DescribeTargetHealth"),
        timeout=10,
        what="the abandoned call answered",
        interval=0.05,
    )


async def test_a_refused_connection_is_transient_unreachable(adapter: Adapter) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings = lab_settings(
        adapter.lab, aws_endpoint_url=f"http://127.0.0.1:{closed_port}", aws_max_attempts=2
    )
    async with open_aws(settings, call_timeout=10) as aws:
        with pytest.raises(TransientError) as caught:
            await aws.target_groups.describe(
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1"
            )
    assert caught.value.reason == "AwsUnreachable"


async def test_target_group_facts_by_arn_and_by_name(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web", port=8443)
    by_arn = await adapter.groups.describe_target_group(tg.arn)
    by_name = await adapter.groups.describe_target_group_by_name("web")
    assert by_arn == by_name
    assert (by_arn.target_type, by_arn.protocol, by_arn.port, by_arn.vpc_id) == (
        "ip",
        "TCP",
        8443,
        adapter.network.vpc_id,
    )
    with pytest.raises(TargetGroupNotFoundError):
        await adapter.groups.describe_target_group_by_name("nope")
