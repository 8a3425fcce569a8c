"""Cached target health: full listings on miss, expiry or demand; otherwise only the stragglers."""

from __future__ import annotations

from lbc.aws.elbv2 import TargetGroups
from lbc.core.targets import HealthState, Target

from lbc_lab.elb_scenario import create_target_group

from .conftest import Adapter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settled_group(adapter: Adapter, count: int) -> tuple[str, list[Target]]:
    """A group whose ``count`` targets have passed their health checks."""
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    wanted = [Target(ip, 8080) for ip in adapter.network.ips(count)]
    await adapter.groups.register(tg.arn, wanted)
    adapter.lab.control.advance(600)
    return tg.arn, wanted


async def test_second_describe_asks_only_about_targets_that_are_not_healthy(
    adapter: Adapter,
) -> None:
    arn, wanted = await settled_group(adapter, 10)
    adapter.lab.control.set_health(wanted[3].id, "unhealthy", reason="Target.Timeout", port=8080)
    adapter.lab.control.advance(600)
    mark = adapter.lab.control.last_seq()

    first = await adapter.groups.describe(arn)
    second = await adapter.groups.describe(arn)

    calls = adapter.lab.control.calls("DescribeTargetHealth", since=mark)
    assert [(c.target_count, c.result_count) for c in calls] == [(0, 10), (1, 1)]
    assert first == second
    assert second[wanted[3]].state is HealthState.UNHEALTHY
    assert second[wanted[3]].reason == "Target.Timeout"
    assert all(second[t].healthy for t in wanted if t != wanted[3])


async def test_a_settled_group_costs_no_call_until_its_view_expires(adapter: Adapter) -> None:
    clock = Clock()
    groups = TargetGroups(adapter.elbv2, adapter.calls, adapter.vpcs, clock=clock)
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    wanted = [Target(ip, 8080) for ip in adapter.network.ips(5)]
    await groups.register(tg.arn, wanted)
    adapter.lab.control.advance(600)
    await groups.describe(tg.arn)
    mark = adapter.lab.control.last_seq()

    clock.now += 299
    assert len(await groups.describe(tg.arn)) == 5
    assert adapter.lab.control.count("DescribeTargetHealth", since=mark) == 0

    clock.now += 1
    await groups.describe(tg.arn)
    calls = adapter.lab.control.calls("DescribeTargetHealth", since=mark)
    assert [(c.target_count, c.result_count) for c in calls] == [(0, 5)]


async def test_fresh_describe_sees_targets_removed_out_of_band(adapter: Adapter) -> None:
    arn, wanted = await settled_group(adapter, 4)
    await adapter.groups.describe(arn)
    await adapter.elbv2.deregister_targets(
        TargetGroupArn=arn, Targets=[{"Id": wanted[0].id, "Port": 8080}]
    )
    adapter.lab.control.advance(600)  # drained and gone

    cached = await adapter.groups.describe(arn)
    fresh = await adapter.groups.describe(arn, fresh=True)

    assert wanted[0] in cached  # a healthy target is trusted until the view expires
    assert set(fresh) == set(wanted[1:])


async def test_own_registrations_are_described_on_the_next_call(adapter: Adapter) -> None:
    arn, wanted = await settled_group(adapter, 6)
    await adapter.groups.describe(arn)
    extra = [Target(ip, 9090) for ip in adapter.network.ips(2)]
    await adapter.groups.register(arn, extra)
    mark = adapter.lab.control.last_seq()

    listed = await adapter.groups.describe(arn)

    calls = adapter.lab.control.calls("DescribeTargetHealth", since=mark)
    assert [(c.target_count, c.result_count) for c in calls] == [(2, 2)]
    assert {listed[t].state for t in extra} == {HealthState.INITIAL}
    assert set(listed) == set(wanted) | set(extra)


async def test_deregistered_targets_show_as_draining_then_leave(adapter: Adapter) -> None:
    arn, wanted = await settled_group(adapter, 6)
    await adapter.groups.describe(arn)
    await adapter.groups.deregister(arn, wanted[:1])

    draining = await adapter.groups.describe(arn)
    assert draining[wanted[0]].draining
    adapter.lab.control.advance(600)
    after = await adapter.groups.describe(arn)
    assert wanted[0] not in after
    assert set(after) == set(wanted[1:])


async def test_same_ip_on_two_ports_is_two_targets(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    ip = adapter.network.ip(0)
    await adapter.groups.register(tg.arn, [Target(ip, 8080), Target(ip, 8081)])
    await adapter.groups.deregister(tg.arn, [Target(ip, 8080)])
    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert listed[Target(ip, 8080)].draining
    assert not listed[Target(ip, 8081)].draining


async def test_a_rejected_partial_query_falls_back_to_a_full_listing(adapter: Adapter) -> None:
    arn, wanted = await settled_group(adapter, 6)
    await adapter.groups.describe(arn)
    extra = Target(adapter.network.ip(20), 8080)
    await adapter.groups.register(arn, [extra])
    # ELBv2 rejects a whole query naming one invalid id (an instance terminated meanwhile).
    adapter.lab.control.fail("DescribeTargetHealth", status=400, code="InvalidTarget", count=1)
    mark = adapter.lab.control.last_seq()

    listed = await adapter.groups.describe(arn)

    calls = adapter.lab.control.calls("DescribeTargetHealth", since=mark)
    assert [(c.target_count, c.outcome) for c in calls] == [(1, "InvalidTarget"), (0, "ok")]
    assert set(listed) == {*wanted, extra}
