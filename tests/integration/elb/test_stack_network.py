"""The lab's stack network: what EC2 describes is what subnet discovery needs to choose subnets.

The network is read back through DescribeSubnets and DescribeRouteTables, as a deployer reads
it, and handed to lbc's own subnet discovery (``lbc.core.stack.subnets``).
"""

from __future__ import annotations

from typing import Any

import pytest
from lbc.core.stack.inputs import SubnetFacts
from lbc.core.stack.model import LoadBalancerType, Scheme
from lbc.core.stack.subnets import SubnetRules, discover

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.stack_network import StackNetwork, create_stack_network

from .stacks import alb, security_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def facts(ec2: Any, layout: StackNetwork) -> list[SubnetFacts]:
    """The VPC's subnets as a deployer sees them (tags, free addresses, reachability)."""
    subnets = (await ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [layout.vpc_id]}]))[
        "Subnets"
    ]
    tables = (
        await ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [layout.vpc_id]}])
    )["RouteTables"]

    def public(table: dict[str, Any]) -> bool:
        return any(str(r.get("GatewayId", "")).startswith("igw-") for r in table["Routes"])

    explicit = {
        a["SubnetId"]: public(t) for t in tables for a in t["Associations"] if a.get("SubnetId")
    }
    main = next(public(t) for t in tables if any(a.get("Main") for a in t["Associations"]))
    return [
        SubnetFacts(
            subnet_id=s["SubnetId"],
            availability_zone=s["AvailabilityZone"],
            available_ips=s["AvailableIpAddressCount"],
            tags=tuple(sorted((t["Key"], t["Value"]) for t in s.get("Tags", []))),
            vpc_id=s["VpcId"],
            cidr=s["CidrBlock"],
            public=explicit.get(s["SubnetId"], main),
        )
        for s in subnets
    ]


async def test_discovery_picks_public_and_private_subnets_by_role(ec2: Any) -> None:
    layout = await create_stack_network(ec2, clusters=("c1",), foreign_cluster="other")
    found = await facts(ec2, layout)
    rules = SubnetRules(cluster_name="c1")
    chosen = discover(found, Scheme.INTERNET_FACING, LoadBalancerType.APPLICATION, rules)
    assert chosen == tuple(sorted(layout.public_ids))
    assert layout.foreign is not None
    assert layout.foreign.subnet_id not in chosen, "tagged for another cluster only"
    internal = discover(found, Scheme.INTERNAL, LoadBalancerType.NETWORK, rules)
    assert internal == tuple(sorted(layout.private_ids))
    assert all(f.available_ips >= 8 for f in found)
    role_filtered = await ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [layout.vpc_id]},
            {"Name": "tag:kubernetes.io/role/internal-elb", "Values": ["", "1"]},
        ]
    )
    assert sorted(s["SubnetId"] for s in role_filtered["Subnets"]) == sorted(layout.private_ids)


async def test_without_role_tags_reachability_decides(ec2: Any) -> None:
    layout = await create_stack_network(ec2, clusters=("c1",), role_tags=False)
    found = await facts(ec2, layout)
    rules = SubnetRules(cluster_name="c1")
    public = discover(found, Scheme.INTERNET_FACING, LoadBalancerType.APPLICATION, rules)
    internal = discover(found, Scheme.INTERNAL, LoadBalancerType.APPLICATION, rules)
    assert public == tuple(sorted(layout.public_ids))
    assert internal == tuple(sorted(layout.private_ids))


async def test_both_clusters_may_use_a_shared_network(
    ec2: Any, elbv2: Any, elb_lab: ElbLab
) -> None:
    layout = await create_stack_network(ec2, clusters=("a", "b"), zones=("a", "b"))
    found = await facts(ec2, layout)
    for cluster in ("a", "b"):
        rules = SubnetRules(cluster_name=cluster)
        chosen = discover(found, Scheme.INTERNET_FACING, LoadBalancerType.APPLICATION, rules)
        assert chosen == tuple(sorted(layout.public_ids))
    group = await security_group(ec2, layout.network, "frontend")
    lb = await alb(elbv2, layout.network, "k8s-echoserv-echoserv-0123456789", groups=[group])
    zones = sorted(z["ZoneName"] for z in lb["AvailabilityZones"])
    assert zones == ["us-east-1a", "us-east-1b"]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(layout.public_ids)


async def test_one_zone_is_refused(ec2: Any) -> None:
    with pytest.raises(ValueError, match="two zones"):
        await create_stack_network(ec2, zones=("a",))
