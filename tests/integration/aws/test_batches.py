"""Registration and deregistration in batches of at most 200, several in flight, with progress."""

from __future__ import annotations

import itertools

import pytest
from lbc.aws.adapter import open_aws
from lbc.aws.elbv2 import TargetGroups, batch_progress
from lbc.core.errors import TerminalError
from lbc.core.targets import HealthState, Target

from lbc_lab.elb_scenario import create_target_group

from .conftest import Adapter, intervals, lab_settings, overlapping


def targets(adapter: Adapter, count: int, port: int = 8080) -> list[Target]:
    # Spread over the three /20 subnets: 450 addresses do not fit the first one's usable range.
    per_subnet = (count + 2) // 3
    ips = [ip for s in range(3) for ip in adapter.network.ips(per_subnet, subnet=s)][:count]
    return [Target(ip, port) for ip in ips]


async def test_450_targets_register_in_three_calls_of_at_most_200(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    wanted = targets(adapter, 450)
    mark = adapter.lab.control.last_seq()

    await adapter.groups.register(tg.arn, wanted)

    calls = adapter.lab.control.calls("RegisterTargets", since=mark)
    assert sorted(c.target_count for c in calls) == [50, 200, 200]
    assert all(c.outcome == "ok" for c in calls)
    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert set(listed) == set(wanted)


async def test_batches_of_one_registration_are_in_flight_together(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    adapter.lab.control.delay("RegisterTargets", latency_ms=500)
    mark = adapter.lab.control.last_seq()

    await adapter.groups.register(tg.arn, targets(adapter, 450))

    spans = intervals(adapter.lab.control.calls("RegisterTargets", since=mark))
    assert len(spans) == 3
    # Sent one after another, no two calls would overlap (any overlap proves concurrency; all
    # three overlapping is the usual case but depends on the machine's load).
    assert any(overlapping(a, b) for a, b in itertools.combinations(spans, 2))


async def test_a_failed_batch_stops_the_rest_and_reports_what_succeeded(
    adapter: Adapter,
) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    sequential = TargetGroups(adapter.elbv2, adapter.calls, adapter.vpcs, max_in_flight=1)
    # Second batch rejected as AWS rejects a bad request (not retried by botocore).
    adapter.lab.control.fail("RegisterTargets", status=400, code="ValidationError", skip=1, count=1)
    wanted = targets(adapter, 450)
    assert await sequential.describe(tg.arn) == {}
    mark = adapter.lab.control.last_seq()

    with pytest.raises(TerminalError) as caught:
        await sequential.register(tg.arn, wanted)

    assert caught.value.reason == "ValidationError"
    progress = batch_progress(caught.value)
    assert progress is not None
    assert progress.operation == "RegisterTargets"
    assert progress.succeeded == tuple(wanted[:200])
    assert progress.not_done == tuple(wanted[200:])
    # The third batch was never sent.
    assert adapter.lab.control.count("RegisterTargets", since=mark) == 2
    # The cached view learnt nothing false: neither batch is taken as registered unasked.
    listed = await sequential.describe(tg.arn)
    assert set(listed) == set(progress.succeeded)


async def test_parallel_batches_report_exactly_the_targets_that_landed(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    adapter.lab.control.fail("RegisterTargets", status=400, code="ValidationError", count=1)
    wanted = targets(adapter, 450)

    with pytest.raises(TerminalError) as caught:
        await adapter.groups.register(tg.arn, wanted)

    progress = batch_progress(caught.value)
    assert progress is not None
    assert set(progress.succeeded) | set(progress.not_done) == set(wanted)
    assert not set(progress.succeeded) & set(progress.not_done)
    assert progress.not_done  # one whole batch failed
    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert set(listed) == set(progress.succeeded)


async def test_deregistration_is_batched_and_leaves_other_targets_alone(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    wanted = targets(adapter, 300)
    await adapter.groups.register(tg.arn, wanted)
    await adapter.groups.describe(tg.arn)
    mark = adapter.lab.control.last_seq()

    await adapter.groups.deregister(tg.arn, wanted[:250])

    calls = adapter.lab.control.calls("DeregisterTargets", since=mark)
    assert sorted(c.target_count for c in calls) == [50, 200]
    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert {t for t, h in listed.items() if h.state is HealthState.DRAINING} == set(wanted[:250])
    assert {t for t, h in listed.items() if not h.draining} == set(wanted[250:])


async def test_empty_requests_make_no_calls(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    mark = adapter.lab.control.last_seq()
    await adapter.groups.register(tg.arn, [])
    await adapter.groups.deregister(tg.arn, [])
    assert adapter.lab.control.calls(since=mark) == []


async def test_batches_in_flight_stay_within_the_mutation_budget(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    settings = lab_settings(adapter.lab, aws_calls_per_second=2.0)  # burst 2, then one per 0.5 s
    async with open_aws(settings, max_in_flight=8) as aws:
        await aws.target_groups.describe_target_group(tg.arn)
        mark = adapter.lab.control.last_seq()
        await aws.target_groups.register(tg.arn, targets(adapter, 1000))

    starts = sorted(
        s for s, _ in intervals(adapter.lab.control.calls("RegisterTargets", since=mark))
    )
    assert len(starts) == 5
    # The bucket grants at 0, 0, 0.5, 1.0, 1.5 s: later starts can only be later still. The
    # slack covers the first request's own trip to the lab.
    for k in range(2, 5):
        assert starts[k] - starts[0] >= (k - 1) * 0.5 - 0.15
