"""A VPC laid out as EKS clusters lay theirs out, so load-balancer subnet discovery finds subnets.

LBC (and lbc's stacks) choose subnets by tags: ``kubernetes.io/role/elb`` (value ``1`` or
empty) for internet-facing load balancers, ``kubernetes.io/role/internal-elb`` for internal
ones, dropping subnets tagged for another cluster (``kubernetes.io/cluster/<other>``) and
preferring those tagged for this one; without role tags they fall back to reachability (a
route to an internet gateway makes a subnet public). :func:`create_stack_network` builds all of
that through the EC2 API of the lab (so what it builds is what a controller will describe):

- one public subnet (/24) per zone, role-tagged ``kubernetes.io/role/elb``, its route table
  sending ``0.0.0.0/0`` to an attached internet gateway;
- one private subnet (/20) per zone, role-tagged ``kubernetes.io/role/internal-elb``, on the
  VPC's main route table (no internet route);
- every subnet tagged ``kubernetes.io/cluster/<name>`` for each of ``clusters`` (value
  ``shared``) and ``Name`` ``<prefix>-public-<zone>`` / ``<prefix>-private-<zone>``;
- optionally (``foreign_cluster``) one more public subnet in the first zone tagged for another
  cluster only, which discovery must skip;
- with ``role_tags=False`` no role tags at all, for the reachability fallback.

Usage (tests, the demo, ``python -m lbc lab world``)::

    layout = await create_stack_network(ec2, clusters=("c1", "c2"))
    layout.public_ids, layout.private_ids     # subnet ids, in zone order
    layout.network                           # an elb_scenario.Network (for run_instances, ips)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from lbc_lab.elb_scenario import Network, Subnet

ROLE_PUBLIC = "kubernetes.io/role/elb"
ROLE_INTERNAL = "kubernetes.io/role/internal-elb"
CLUSTER_TAG = "kubernetes.io/cluster/{}"


@dataclass(frozen=True, slots=True)
class StackNetwork:
    """What :func:`create_stack_network` built; subnets are listed in zone order."""

    network: Network
    public: tuple[Subnet, ...]
    private: tuple[Subnet, ...]
    internet_gateway_id: str
    public_route_table_id: str
    foreign: Subnet | None = None

    @property
    def vpc_id(self) -> str:
        return self.network.vpc_id

    @property
    def public_ids(self) -> list[str]:
        return [s.subnet_id for s in self.public]

    @property
    def private_ids(self) -> list[str]:
        return [s.subnet_id for s in self.private]

    def subnet_ids(self, scheme: str) -> list[str]:
        """The subnets a load balancer of ``scheme`` (internet-facing or internal) goes in."""
        return self.public_ids if scheme == "internet-facing" else self.private_ids


def _tags(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": "subnet", "Tags": [{"Key": k, "Value": v} for k, v in pairs]}]


async def create_stack_network(
    ec2: Any,
    *,
    clusters: tuple[str, ...] = ("lab",),
    zones: tuple[str, ...] = ("a", "b", "c"),
    cidr: str = "10.0.0.0/16",
    prefix: str = "lab",
    role_tags: bool = True,
    foreign_cluster: str | None = None,
) -> StackNetwork:
    """A VPC of ``cidr`` with public and private subnets in each zone (at least two zones)."""
    if len(zones) < 2:
        raise ValueError("an application load balancer needs subnets in two zones at least")
    region = ec2.meta.region_name
    vpc = (await ec2.create_vpc(CidrBlock=cidr))["Vpc"]["VpcId"]
    block = ipaddress.ip_network(cidr)
    public_blocks = list(block.subnets(new_prefix=24))[: len(zones) + 1]
    private_blocks = list(block.subnets(new_prefix=20))[1 : len(zones) + 1]
    cluster_tags = [(CLUSTER_TAG.format(c), "shared") for c in clusters]

    async def subnet(zone: str, net: Any, name: str, extra: list[tuple[str, str]]) -> Subnet:
        made = await ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=str(net),
            AvailabilityZone=f"{region}{zone}",
            TagSpecifications=_tags(("Name", name), *extra),
        )
        return Subnet(made["Subnet"]["SubnetId"], str(net), f"{region}{zone}")

    public_role = [(ROLE_PUBLIC, "1")] if role_tags else []
    internal_role = [(ROLE_INTERNAL, "1")] if role_tags else []
    public = [
        await subnet(z, public_blocks[i], f"{prefix}-public-{z}", public_role + cluster_tags)
        for i, z in enumerate(zones)
    ]
    private = [
        await subnet(z, private_blocks[i], f"{prefix}-private-{z}", internal_role + cluster_tags)
        for i, z in enumerate(zones)
    ]
    foreign = None
    if foreign_cluster is not None:
        foreign = await subnet(
            zones[0],
            public_blocks[len(zones)],
            f"{prefix}-foreign-{zones[0]}",
            [*public_role, (CLUSTER_TAG.format(foreign_cluster), "owned")],
        )
    gateway = (await ec2.create_internet_gateway())["InternetGateway"]["InternetGatewayId"]
    await ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = (await ec2.create_route_table(VpcId=vpc))["RouteTable"]["RouteTableId"]
    await ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    for made in [*public, *([foreign] if foreign else [])]:
        await ec2.associate_route_table(RouteTableId=table, SubnetId=made.subnet_id)
    network = Network(vpc, cidr, (*public, *private))
    return StackNetwork(network, tuple(public), tuple(private), gateway, table, foreign)
