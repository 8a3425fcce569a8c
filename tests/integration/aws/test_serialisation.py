"""Work on one target group is serialised; different target groups proceed in parallel."""

from __future__ import annotations

import itertools

import anyio
from lbc.core.targets import Target

from lbc_lab.elb_scenario import create_target_group

from .conftest import Adapter, intervals, overlapping


async def test_one_group_is_serialised_while_two_groups_overlap(adapter: Adapter) -> None:
    first = await create_target_group(adapter.elbv2, adapter.network, "first")
    second = await create_target_group(adapter.elbv2, adapter.network, "second")
    ips = adapter.network.ips(4)
    adapter.lab.control.delay("DescribeTargetHealth", latency_ms=400)
    adapter.lab.control.delay("RegisterTargets", latency_ms=400)
    mark = adapter.lab.control.last_seq()

    async with anyio.create_task_group() as group:
        for arn in (first.arn, second.arn):
            group.start_soon(adapter.groups.describe, arn)
            group.start_soon(adapter.groups.register, arn, [Target(ips[0], 80)])
            group.start_soon(adapter.groups.describe, arn)
            group.start_soon(adapter.groups.register, arn, [Target(ips[1], 80)])

    calls = adapter.lab.control.calls(("DescribeTargetHealth", "RegisterTargets"), since=mark)
    by_group = {
        arn: intervals([c for c in calls if c.target_group_arn == arn])
        for arn in (first.arn, second.arn)
    }
    for spans in by_group.values():
        assert len(spans) >= 4
        assert not any(overlapping(a, b) for a, b in itertools.combinations(spans, 2))
    assert any(overlapping(a, b) for a in by_group[first.arn] for b in by_group[second.arn])
