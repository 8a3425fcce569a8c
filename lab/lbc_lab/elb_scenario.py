"""Scenario building blocks on the lab's AWS: a VPC with subnets, instances, bound target groups.

Everything goes through the EC2 and ELBv2 APIs (aiobotocore clients against the lab), so a
scenario built here is exactly what the daemon will see. A target group made by
:func:`create_target_group` is attached to a network load balancer through a listener by
default, because a group no load balancer forwards to reports every target ``unused`` /
``Target.NotInUse`` (as on AWS) and would never turn healthy.

The clients are typed ``Any``: aiobotocore clients are generated at run time.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Subnet:
    subnet_id: str
    cidr: str
    zone: str
    ipv6_cidr: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """A VPC and its subnets (one per zone)."""

    vpc_id: str
    cidr: str
    subnets: tuple[Subnet, ...]

    def ip(self, n: int, subnet: int = 0) -> str:
        """The ``n``-th usable address of subnet ``subnet`` (AWS reserves the first four)."""
        net = ipaddress.ip_network(self.subnets[subnet].cidr)
        return str(net.network_address + 4 + n)

    def ips(self, count: int, subnet: int = 0) -> list[str]:
        return [self.ip(n, subnet) for n in range(count)]

    def ip6(self, n: int, subnet: int = 0) -> str:
        """The ``n``-th usable IPv6 address of subnet ``subnet`` (networks made with ``ipv6``)."""
        block = self.subnets[subnet].ipv6_cidr
        if block is None:
            raise ValueError("this network has no IPv6 blocks (create_network(ipv6=True))")
        return str(ipaddress.ip_network(block).network_address + 4 + n)


@dataclass(frozen=True, slots=True)
class Instance:
    instance_id: str
    private_ip: str
    zone: str


@dataclass(frozen=True, slots=True)
class BoundTargetGroup:
    """A target group and, when attached, the load balancer and listener forwarding to it."""

    arn: str
    name: str
    target_type: str
    port: int
    vpc_id: str
    load_balancer_arn: str | None
    listener_arn: str | None


async def create_network(
    ec2: Any,
    *,
    cidr: str = "10.0.0.0/16",
    zones: tuple[str, ...] = ("a", "b", "c"),
    subnet_prefix: int = 20,
    ipv6: bool = False,
) -> Network:
    """A VPC of ``cidr`` with one subnet of ``/subnet_prefix`` per zone suffix.

    With ``ipv6``, the VPC also gets an Amazon-provided /56 and each subnet a /64 of it.
    """
    region = ec2.meta.region_name
    made_vpc = (await ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=ipv6))["Vpc"]
    vpc = made_vpc["VpcId"]
    v6_blocks: list[str | None] = [None] * len(zones)
    if ipv6:
        v6_net = ipaddress.ip_network(made_vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
        v6_blocks = [str(b) for b, _ in zip(v6_net.subnets(new_prefix=64), zones, strict=False)]
    blocks = ipaddress.ip_network(cidr).subnets(new_prefix=subnet_prefix)
    subnets = []
    for suffix, block, v6 in zip(zones, blocks, v6_blocks, strict=False):
        zone = f"{region}{suffix}"
        options: dict[str, Any] = {"Ipv6CidrBlock": v6} if v6 else {}
        made = await ec2.create_subnet(
            VpcId=vpc, CidrBlock=str(block), AvailabilityZone=zone, **options
        )
        subnets.append(Subnet(made["Subnet"]["SubnetId"], str(block), zone, v6))
    return Network(vpc, cidr, tuple(subnets))


async def run_instances(
    ec2: Any, network: Network, count: int, *, subnet: int = 0
) -> list[Instance]:
    """``count`` running instances in one subnet of ``network``."""
    made = await ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        SubnetId=network.subnets[subnet].subnet_id,
    )
    return [
        Instance(i["InstanceId"], i["PrivateIpAddress"], network.subnets[subnet].zone)
        for i in made["Instances"]
    ]


_MOTO_LISTENER_PROTOCOL = {"QUIC": "UDP", "TCP_QUIC": "TCP_UDP"}


async def create_target_group(
    elbv2: Any,
    network: Network,
    name: str,
    *,
    target_type: str = "ip",
    port: int = 80,
    protocol: str = "TCP",
    attach: bool = True,
    deregistration_delay: int | None = None,
    health_check_interval: int | None = None,
    healthy_threshold: int | None = None,
    unhealthy_threshold: int | None = None,
) -> BoundTargetGroup:
    """A target group in ``network``; with ``attach``, an NLB listener forwards to it."""
    options: dict[str, Any] = {}
    if health_check_interval is not None:
        options["HealthCheckIntervalSeconds"] = health_check_interval
    if healthy_threshold is not None:
        options["HealthyThresholdCount"] = healthy_threshold
    if unhealthy_threshold is not None:
        options["UnhealthyThresholdCount"] = unhealthy_threshold
    made = await elbv2.create_target_group(
        Name=name,
        Protocol=protocol,
        Port=port,
        VpcId=network.vpc_id,
        TargetType=target_type,
        **options,
    )
    arn = made["TargetGroups"][0]["TargetGroupArn"]
    if deregistration_delay is not None:
        await elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}
            ],
        )
    lb_arn = listener_arn = None
    if attach:
        lb = await elbv2.create_load_balancer(
            Name=f"{name}-lb"[:32],
            Type="network",
            Scheme="internal",
            Subnets=[s.subnet_id for s in network.subnets],
        )
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        listener = await elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            # moto knows no QUIC listeners; the lab's target operations only read the group's.
            Protocol=_MOTO_LISTENER_PROTOCOL.get(protocol, protocol),
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
        )
        listener_arn = listener["Listeners"][0]["ListenerArn"]
    return BoundTargetGroup(arn, name, target_type, port, network.vpc_id, lb_arn, listener_arn)
