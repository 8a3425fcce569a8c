"""Stack fidelity: idempotent creates, unique names and ports, one load balancer per group.

Each test shows the AWS behaviour with the rule on, and moto's with it off (which is what a
stack deployer tested on plain moto would have been blessed by).
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network

from .stacks import alb, error_of, forward, http_group, http_listener, path_is, security_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_same_name_same_settings_returns_the_existing_load_balancer(
    ec2: Any, elbv2: Any, net: Network
) -> None:
    group = await security_group(ec2, net, "frontend")
    first = await alb(elbv2, net, "k8s-echoserv-echoserv-0123456789", groups=[group])
    again = await alb(
        elbv2,
        net,
        "k8s-echoserv-echoserv-0123456789",
        groups=[group],
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "other"}],
    )
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    assert len((await elbv2.describe_load_balancers())["LoadBalancers"]) == 1
    tags = await elbv2.describe_tags(ResourceArns=[first["LoadBalancerArn"]])
    assert tags["TagDescriptions"][0]["Tags"] == [], "a repeated create applies no tags"


async def test_same_name_other_settings_is_a_duplicate_name(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    group = await security_group(ec2, net, "frontend")
    other = await security_group(ec2, net, "other")
    await alb(elbv2, net, "shared-name", groups=[group])
    code, _ = await error_of(
        elbv2.create_load_balancer,
        Name="shared-name",
        Type="application",
        Scheme="internet-facing",
        Subnets=[s.subnet_id for s in net.subnets[:2]],
        SecurityGroups=[other],
    )
    assert code == "DuplicateLoadBalancerName"
    elb_lab.control.set_fidelity(lb_name_unique=False)
    await alb(elbv2, net, "shared-name", groups=[other])
    names = [
        lb["LoadBalancerName"] for lb in (await elbv2.describe_load_balancers())["LoadBalancers"]
    ]
    assert names == ["shared-name", "shared-name"], "moto keeps two load balancers of one name"


async def test_target_group_create_is_idempotent_for_the_same_settings(
    elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    name = "k8s-echoserv-echoserv-cc0122e143"
    arn = await http_group(elbv2, net, name)
    assert await http_group(elbv2, net, name) == arn

    async def refusal(target_type: str) -> str:
        code, _ = await error_of(
            elbv2.create_target_group,
            Name=name,
            Protocol="HTTP",
            Port=8080,
            VpcId=net.vpc_id,
            TargetType=target_type,
        )
        return code

    assert await refusal("instance") == "DuplicateTargetGroupName"
    groups = (await elbv2.describe_target_groups())["TargetGroups"]
    assert [g["TargetGroupArn"] for g in groups] == [arn]
    elb_lab.control.set_fidelity(tg_idempotent_create=False)
    assert await refusal("ip") == "DuplicateTargetGroupName", "moto refuses even identical settings"


async def test_second_listener_on_a_port_is_a_duplicate(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    lb = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    group = await http_group(elbv2, net, "web")
    await http_listener(elbv2, lb["LoadBalancerArn"], group)
    code, _ = await error_of(http_listener, elbv2, lb["LoadBalancerArn"], group)
    assert code == "DuplicateListener"
    elb_lab.control.set_fidelity(listener_port_unique=False)
    await http_listener(elbv2, lb["LoadBalancerArn"], group)
    listeners = await elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
    assert [li["Port"] for li in listeners["Listeners"]] == [80, 80]


async def test_a_target_group_serves_one_load_balancer(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    group_id = await security_group(ec2, net, "web")
    first = await alb(elbv2, net, "first", groups=[group_id])
    second = await alb(elbv2, net, "second", groups=[group_id])
    group = await http_group(elbv2, net, "shared")
    await http_listener(elbv2, first["LoadBalancerArn"], group)
    code, message = await error_of(http_listener, elbv2, second["LoadBalancerArn"], group)
    assert code == "TargetGroupAssociationLimit"
    assert group in message
    own = await http_group(elbv2, net, "own")
    listener = await http_listener(elbv2, second["LoadBalancerArn"], own)
    code, _ = await error_of(
        elbv2.create_rule,
        ListenerArn=listener,
        Priority=1,
        Conditions=path_is("/a"),
        Actions=forward(group),
    )
    assert code == "TargetGroupAssociationLimit"
    elb_lab.control.set_fidelity(tg_single_load_balancer=False)
    await elbv2.create_rule(
        ListenerArn=listener, Priority=1, Conditions=path_is("/a"), Actions=forward(group)
    )
    (described,) = (await elbv2.describe_target_groups(TargetGroupArns=[group]))["TargetGroups"]
    assert sorted(described["LoadBalancerArns"]) == sorted(
        [first["LoadBalancerArn"], second["LoadBalancerArn"]]
    )


async def test_load_balancer_settings_are_validated(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    group_id = await security_group(ec2, net, "web")
    code, _ = await error_of(alb, elbv2, net, "one-zone", groups=[group_id], subnets=1)
    assert code == "InvalidConfigurationRequest"
    code, _ = await error_of(alb, elbv2, net, "x" * 33, groups=[group_id])
    assert code == "ValidationError"
    code, _ = await error_of(alb, elbv2, net, "internal-web", groups=[group_id])
    assert code == "ValidationError"
    code, _ = await error_of(alb, elbv2, net, "ghost-group", groups=["sg-0123456789abcdef0"])
    assert code == "InvalidSecurityGroup"
    code, _ = await error_of(
        elbv2.create_load_balancer,
        Name="same-zone",
        Subnets=[net.subnets[0].subnet_id, net.subnets[0].subnet_id],
        SecurityGroups=[group_id],
    )
    assert code == "InvalidConfigurationRequest"
    elb_lab.control.set_fidelity(create_validation=False)
    assert (await alb(elbv2, net, "one-zone", groups=[group_id], subnets=1))["LoadBalancerArn"]
