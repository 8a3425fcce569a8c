"""Under heavy throttling the adapter still converges, and every throttle answer is counted."""

from __future__ import annotations

import anyio
import pytest
from lbc.aws.adapter import open_aws
from lbc.aws.elbv2 import TargetGroups
from lbc.core.errors import ThrottledError, TransientError
from lbc.core.targets import Target

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import create_network, create_target_group

from .conftest import lab_settings, metric_sum


async def converge(
    groups: TargetGroups, arn: str, wanted: list[Target], outcome: dict[str, int]
) -> None:
    """What a reconciler does: look, register what is missing, retry transient failures."""
    for _ in range(40):
        try:
            listed = await groups.describe(arn)
            missing = [t for t in wanted if t not in listed]
            if not missing:
                return
            await groups.register(arn, missing)
        except ThrottledError:
            outcome["throttled"] += 1
        except TransientError:
            outcome["other"] += 1
    raise AssertionError(f"{arn} did not converge")


# Adaptive mode slows the whole client after each throttle (that is its purpose), so it gets
# fewer groups to keep the test short.
@pytest.mark.parametrize(("retry_mode", "group_count"), [("standard", 4), ("adaptive", 2)])
async def test_thirty_percent_throttled_calls_still_converge_with_throttles_counted(
    elb_lab: ElbLab, retry_mode: str, group_count: int
) -> None:
    # Two attempts only: some calls exhaust botocore's retries, so lbc's own classification and
    # the caller's retry are exercised too, not just the SDK's.
    settings = lab_settings(elb_lab, aws_retry_mode=retry_mode, aws_max_attempts=2)
    # One batch in flight: with several, two batches of one call can both end throttled while
    # the call raises once, and the count below could not be exact.
    async with open_aws(settings, call_timeout=30, max_in_flight=1) as aws:
        network = await create_network(aws.clients.ec2)
        wanted = [Target(ip, 8080) for s in range(3) for ip in network.ips(150, subnet=s)]
        wanted += [Target(f"192.168.7.{n}", 8080) for n in range(1, 51)]  # zone "all"
        arns = [
            (await create_target_group(aws.clients.elbv2, network, f"web{n}")).arn
            for n in range(group_count)
        ]
        # Exactly 3 of every 10 calls, in bursts: back-to-back throttles also defeat the SDK's
        # retry, which a uniform draw rarely does.
        elb_lab.control.throttle("*", period=10, burst=3)
        mark = elb_lab.control.last_seq()
        throttles_before = metric_sum("lbc_aws_throttles_total")
        failed_before = metric_sum("lbc_aws_api_calls_total", outcome="throttled")
        outcome = {"throttled": 0, "other": 0}

        async with anyio.create_task_group() as group:
            for arn in arns:
                group.start_soon(converge, aws.target_groups, arn, wanted, outcome)

        answered = elb_lab.control.calls(since=mark)
        throttled = [r for r in answered if r.injected == "throttle"]
        assert len(throttled) >= 6, "the lab throttled too little: the test proves nothing"
        assert 0.25 <= len(throttled) / len(answered) <= 0.35
        assert metric_sum("lbc_aws_throttles_total") - throttles_before == len(throttled)
        calls_throttled = metric_sum("lbc_aws_api_calls_total", outcome="throttled")
        assert calls_throttled - failed_before == outcome["throttled"] >= 1
        assert outcome["other"] == 0
        elb_lab.control.clear_faults()
        for arn in arns:
            assert set(await aws.target_groups.describe(arn, fresh=True)) == set(wanted)
