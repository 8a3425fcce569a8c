"""RegisterTargets and friends refuse what AWS refuses, with AWS's error codes, atomically."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_network, create_target_group, run_instances

from .conftest import states

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


async def test_running_instance_in_the_vpc_registers(ec2: Any, elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "nodes", target_type="instance")
    (node,) = await run_instances(ec2, net, 1)
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": node.instance_id, "Port": 31000}]
    )
    assert (node.instance_id, 31000) in await states(elbv2, tg.arn)


async def test_unknown_instance_is_an_invalid_target(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "ghost", target_type="instance")
    code, _ = await _error(
        elbv2.register_targets,
        TargetGroupArn=tg.arn,
        Targets=[{"Id": "i-0123456789abcdef0", "Port": 31000}],
    )
    assert code == "InvalidTarget"


async def test_instance_of_another_vpc_is_an_invalid_target(
    ec2: Any, elbv2: Any, net: Network
) -> None:
    other = await create_network(ec2, cidr="10.1.0.0/16")
    (node,) = await run_instances(ec2, other, 1)
    tg = await create_target_group(elbv2, net, "elsewhere", target_type="instance")
    code, _ = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": node.instance_id}]
    )
    assert code == "InvalidTarget"


async def test_stopped_instance_is_an_invalid_target(ec2: Any, elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "stopped", target_type="instance")
    running, stopped = await run_instances(ec2, net, 2)
    await ec2.stop_instances(InstanceIds=[stopped.instance_id])
    code, message = await _error(
        elbv2.register_targets,
        TargetGroupArn=tg.arn,
        Targets=[{"Id": running.instance_id}, {"Id": stopped.instance_id}],
    )
    assert code == "InvalidTarget"
    assert stopped.instance_id in message
    assert running.instance_id not in message
    assert await states(elbv2, tg.arn) == {}, "a refused call registers nothing"


async def test_registered_instance_that_stops_reports_invalid_state(
    paused: ElbLab, ec2: Any, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "stops-later", target_type="instance")
    (node,) = await run_instances(ec2, net, 1)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": node.instance_id}])
    await ec2.stop_instances(InstanceIds=[node.instance_id])
    assert (await states(elbv2, tg.arn))[(node.instance_id, 80)] == (
        "unused",
        "Target.InvalidState",
    )


async def test_ip_target_in_an_instance_group_is_a_validation_error(
    elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "wants-instances", target_type="instance")
    code, _ = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0)}]
    )
    assert code == "ValidationError"


async def test_instance_target_in_an_ip_group_is_a_validation_error(
    ec2: Any, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "wants-ips")
    (node,) = await run_instances(ec2, net, 1)
    code, _ = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": node.instance_id}]
    )
    assert code == "ValidationError"


async def test_ip_outside_the_vpc_needs_availability_zone_all(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "peered")
    code, message = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": "172.16.0.9"}]
    )
    assert code == "ValidationError"
    assert "Availability Zone is required" in message
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": "172.16.0.9", "AvailabilityZone": "all"}]
    )
    assert ("172.16.0.9", 80) in await states(elbv2, tg.arn)


async def test_ip_in_a_vpc_cidr_without_a_subnet_counts_as_outside(
    elbv2: Any, net: Network
) -> None:
    # ELBv2 looks at the VPC's subnets, not its CIDR blocks: 10.0.255.9 is in 10.0.0.0/16 but in
    # none of the scenario's /20 subnets.
    tg = await create_target_group(elbv2, net, "no-subnet")
    code, _ = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": "10.0.255.9"}]
    )
    assert code == "ValidationError"


async def test_ip_inside_the_vpc_refuses_availability_zone_all(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "inside")
    code, message = await _error(
        elbv2.register_targets,
        TargetGroupArn=tg.arn,
        Targets=[{"Id": net.ip(0), "AvailabilityZone": "all"}],
    )
    assert code == "ValidationError"
    assert "is within the VPC" in message


async def test_public_ip_outside_the_vpc_is_refused(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "public")
    code, _ = await _error(
        elbv2.register_targets,
        TargetGroupArn=tg.arn,
        Targets=[{"Id": "8.8.8.8", "AvailabilityZone": "all"}],
    )
    assert code == "ValidationError"


async def test_registering_beyond_the_quota_is_too_many_targets(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    elb_lab.control.configure(target_quota=5)
    tg = await create_target_group(elbv2, net, "quota")
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(4)]
    )
    code, _ = await _error(
        elbv2.register_targets,
        TargetGroupArn=tg.arn,
        Targets=[{"Id": net.ip(n), "Port": 80} for n in range(3, 6)],
    )
    assert code == "TooManyTargets"
    assert len(await states(elbv2, tg.arn)) == 4, "a refused call registers nothing"
    # Re-registering known targets plus one new one fits exactly.
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(5)]
    )
    assert len(await states(elbv2, tg.arn)) == 5


async def test_default_quota_is_one_thousand_targets_per_group(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "thousand")
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(1000)]
    )
    code, _ = await _error(
        elbv2.register_targets, TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 81}]
    )
    assert code == "TooManyTargets"


@pytest.mark.parametrize(
    "operation", ["register_targets", "deregister_targets", "describe_target_health"]
)
async def test_unknown_target_group_is_not_found(elbv2: Any, operation: str) -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"
    kwargs: dict[str, Any] = {"TargetGroupArn": arn}
    if operation != "describe_target_health":
        kwargs["Targets"] = [{"Id": "10.0.0.9", "Port": 80}]
    code, message = await _error(getattr(elbv2, operation), **kwargs)
    assert (code, message) == ("TargetGroupNotFound", "One or more target groups not found")


@pytest.mark.parametrize(
    "operation",
    ["register_targets", "deregister_targets", "describe_target_health", "describe_target_groups"],
)
async def test_malformed_arn_is_a_validation_error(elbv2: Any, operation: str) -> None:
    kwargs: dict[str, Any] = {"TargetGroupArn": "not-an-arn"}
    if operation == "describe_target_groups":
        kwargs = {"TargetGroupArns": ["not-an-arn"]}
    elif operation != "describe_target_health":
        kwargs["Targets"] = [{"Id": "10.0.0.9", "Port": 80}]
    code, _ = await _error(getattr(elbv2, operation), **kwargs)
    assert code == "ValidationError"


async def test_deregistering_an_unregistered_ip_is_a_no_op(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "noop")
    await elbv2.deregister_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(3), "Port": 80}])
    assert await states(elbv2, tg.arn) == {}


async def test_terminated_instance_drains_out_of_its_groups(
    paused: ElbLab, ec2: Any, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "terminated", target_type="instance")
    (node,) = await run_instances(ec2, net, 1)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": node.instance_id}])
    await ec2.terminate_instances(InstanceIds=[node.instance_id])
    assert (await states(elbv2, tg.arn))[(node.instance_id, 80)] == (
        "draining",
        "Target.DeregistrationInProgress",
    )
    paused.control.advance(300)
    assert await states(elbv2, tg.arn) == {}


async def test_ipv6_target_in_a_subnet_registers_without_a_zone(ec2: Any, elbv2: Any) -> None:
    net = await create_network(ec2, ipv6=True)
    made = await elbv2.create_target_group(
        Name="six", Protocol="TCP", Port=80, VpcId=net.vpc_id, TargetType="ip",
        IpAddressType="ipv6",
    )  # fmt: skip
    arn = made["TargetGroups"][0]["TargetGroupArn"]
    await elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": net.ip6(0, subnet=2)}])
    answer = await elbv2.describe_target_health(TargetGroupArn=arn)
    (only,) = answer["TargetHealthDescriptions"]
    assert only["Target"]["Id"] == net.ip6(0, subnet=2)
    assert only["Target"]["AvailabilityZone"] == net.subnets[2].zone
