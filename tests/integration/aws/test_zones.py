"""AvailabilityZone "all" exactly for ip targets outside the target group's VPC."""

from __future__ import annotations

import pytest
from lbc.aws.metrics import CALLS
from lbc.core.errors import TerminalError
from lbc.core.targets import Target

from lbc_lab.elb_scenario import create_target_group, run_instances

from .conftest import Adapter, metric


async def test_ips_outside_the_vpc_are_registered_with_zone_all(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    inside = Target(adapter.network.ip(7), 8080)
    outside = Target("192.168.40.7", 8080)  # a peered network or on-premises

    # The lab, like ELBv2, refuses an out-of-VPC address without zone "all".
    await adapter.groups.register(tg.arn, [inside, outside])

    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert listed[outside].availability_zone == "all"
    assert listed[inside].availability_zone == adapter.network.subnets[0].zone


async def test_a_secondary_vpc_cidr_counts_as_inside(adapter: Adapter) -> None:
    # Custom pod networking: pods in subnets of a secondary CIDR of the VPC.
    await adapter.ec2.associate_vpc_cidr_block(
        VpcId=adapter.network.vpc_id, CidrBlock="100.64.0.0/16"
    )
    await adapter.ec2.create_subnet(
        VpcId=adapter.network.vpc_id,
        CidrBlock="100.64.0.0/20",
        AvailabilityZone=adapter.network.subnets[1].zone,
    )
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    pod = Target("100.64.3.9", 8080)
    await adapter.groups.register(tg.arn, [pod])
    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert listed[pod].availability_zone == adapter.network.subnets[1].zone


async def test_vpc_ranges_and_group_facts_are_looked_up_once(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    mark = adapter.lab.control.last_seq()
    for n in range(3):
        await adapter.groups.register(tg.arn, [Target(f"192.168.0.{n + 1}", 80)])
    assert adapter.lab.control.count("DescribeVpcs", since=mark) == 1
    assert adapter.lab.control.count("DescribeTargetGroups", since=mark) == 1


async def test_outside_targets_deregister_with_the_zone_they_were_listed_with(
    adapter: Adapter,
) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "web")
    outside = Target("192.168.40.8", 8080)
    await adapter.groups.register(tg.arn, [outside])
    await adapter.groups.describe(tg.arn, fresh=True)
    await adapter.groups.deregister(tg.arn, [outside])
    assert (await adapter.groups.describe(tg.arn, fresh=True))[outside].draining


async def test_instance_targets_never_carry_a_zone_nor_look_up_the_vpc(adapter: Adapter) -> None:
    tg = await create_target_group(adapter.elbv2, adapter.network, "nodes", target_type="instance")
    nodes = await run_instances(adapter.ec2, adapter.network, 2)
    before = metric(
        CALLS._name + "_total", service="ec2", operation="DescribeVpcs", outcome="success"
    )
    wanted = [Target(n.instance_id, 31234) for n in nodes]

    await adapter.groups.register(tg.arn, wanted)

    listed = await adapter.groups.describe(tg.arn, fresh=True)
    assert set(listed) == set(wanted)
    assert all(h.availability_zone != "all" for h in listed.values())
    after = metric(
        CALLS._name + "_total", service="ec2", operation="DescribeVpcs", outcome="success"
    )
    assert after == before


async def _cross_zone_off(adapter: Adapter, name: str) -> str:
    tg = await create_target_group(adapter.elbv2, adapter.network, name)
    await adapter.elbv2.modify_target_group_attributes(
        TargetGroupArn=tg.arn,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}],
    )
    return tg.arn


async def test_group_refusing_zone_all_is_registered_again_with_the_node_zones(
    adapter: Adapter,
) -> None:
    # LBC: RegisterTargets fails with ValidationError "...you must specify an Availability
    # Zone..." (cross-zone off); it retries once with the pods' node zones, and remembers the
    # group so the next registrations go with node zones at once.
    arn = await _cross_zone_off(adapter, "cross-zone-off")
    zone = adapter.network.subnets[1].zone
    outside = Target("192.168.40.9", 8080)
    inside = Target(adapter.network.ip(9), 8080)
    await adapter.groups.register(arn, [inside, outside], zone_hints={outside: zone, inside: zone})
    listed = await adapter.groups.describe(arn, fresh=True)
    assert listed[outside].availability_zone == zone
    assert listed[inside].availability_zone == adapter.network.subnets[0].zone

    calls_before = len(adapter.lab.control.calls("RegisterTargets", target_group_arn=arn))
    later = Target("192.168.40.10", 8080)
    await adapter.groups.register(arn, [later], zone_hints={later: zone})
    assert (
        len(adapter.lab.control.calls("RegisterTargets", target_group_arn=arn)) == calls_before + 1
    )
    assert (await adapter.groups.describe(arn, fresh=True))[later].availability_zone == zone


async def test_without_a_node_zone_the_refusal_is_reported(adapter: Adapter) -> None:
    arn = await _cross_zone_off(adapter, "cross-zone-no-hint")
    with pytest.raises(TerminalError) as info:
        await adapter.groups.register(arn, [Target("192.168.40.11", 8080)])
    assert info.value.reason == "ValidationError"
    assert "Availability Zone" in str(info.value)
