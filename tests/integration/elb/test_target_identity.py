"""Targets are keyed by (Id, Port) as ELBv2 keys them; AvailabilityZone is echoed."""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_network, create_target_group

from .conftest import health, states

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_same_ip_on_two_ports_is_two_targets(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "two-ports")
    ip = net.ip(0)
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": 8080}, {"Id": ip, "Port": 9090}]
    )
    assert set(await states(elbv2, tg.arn)) == {(ip, 8080), (ip, 9090)}


async def test_deregistering_one_port_keeps_the_other_port(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "one-port-left")
    ip = net.ip(0)
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": 8080}, {"Id": ip, "Port": 9090}]
    )
    await elbv2.deregister_targets(TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": 9090}])
    seen = await states(elbv2, tg.arn)
    assert seen[(ip, 9090)] == ("draining", "Target.DeregistrationInProgress")
    assert seen[(ip, 8080)][0] == "initial"


async def test_port_defaults_to_the_group_port(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "default-port", port=8443)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(1)}])
    assert set(await states(elbv2, tg.arn)) == {(net.ip(1), 8443)}


async def test_registering_again_is_idempotent(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "idempotent")
    targets = [{"Id": net.ip(n), "Port": 80} for n in range(3)]
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=targets)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=targets)
    assert len(await states(elbv2, tg.arn)) == 3


async def test_availability_zone_is_echoed(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "zones")
    outside = "192.168.7.7"
    await elbv2.register_targets(
        TargetGroupArn=tg.arn,
        Targets=[
            {"Id": net.ip(0, subnet=1), "Port": 80},
            {"Id": outside, "Port": 80, "AvailabilityZone": "all"},
        ],
    )
    seen = await health(elbv2, tg.arn)
    assert seen[(net.ip(0, subnet=1), 80)]["Target"]["AvailabilityZone"] == net.subnets[1].zone
    assert seen[(outside, 80)]["Target"]["AvailabilityZone"] == "all"
    assert seen[(outside, 80)]["HealthCheckPort"] == "80", "traffic-port: the target's own port"


async def test_describing_named_targets_reports_unregistered_ones(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "named")
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 80}])
    seen = await health(
        elbv2,
        tg.arn,
        Targets=[{"Id": net.ip(0), "Port": 80}, {"Id": net.ip(5), "Port": 80}],
    )
    assert seen[(net.ip(0), 80)]["TargetHealth"]["State"] == "initial"
    assert seen[(net.ip(5), 80)]["TargetHealth"]["State"] == "unused"
    assert seen[(net.ip(5), 80)]["TargetHealth"]["Reason"] == "Target.NotRegistered"


async def test_any_region_and_any_dummy_credentials_are_accepted(elb_lab: ElbLab) -> None:
    session = elb_lab.session()
    far = {
        "region_name": "ap-southeast-2",
        "endpoint_url": elb_lab.endpoint_url,
        "aws_access_key_id": "AKIAWHATEVER",
        "aws_secret_access_key": "anything",
    }
    async with (
        session.create_client("ec2", **far) as ec2,
        session.create_client("elbv2", **far) as elbv2,
    ):
        net = await create_network(ec2)
        tg = await create_target_group(elbv2, net, "far-away")
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0)}])
        assert ":ap-southeast-2:" in tg.arn
        assert net.subnets[0].zone == "ap-southeast-2a"
        assert set(await states(elbv2, tg.arn)) == {(net.ip(0), 80)}
