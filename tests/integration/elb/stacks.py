"""Helpers for the stack fidelity tests: an ALB, an HTTP target group, AWS error codes."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_scenario import Network


async def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """The (code, message) AWS answers ``call(*args, **kwargs)`` with; fails if it succeeds."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await call(*args, **kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


async def security_group(ec2: Any, net: Network, name: str) -> str:
    made = await ec2.create_security_group(GroupName=name, Description=name, VpcId=net.vpc_id)
    group_id: str = made["GroupId"]
    return group_id


async def alb(
    elbv2: Any,
    net: Network,
    name: str,
    *,
    groups: list[str] | None = None,
    scheme: str = "internet-facing",
    subnets: int = 2,
    **extra: Any,
) -> dict[str, Any]:
    made = await elbv2.create_load_balancer(
        Name=name,
        Type="application",
        Scheme=scheme,
        Subnets=[s.subnet_id for s in net.subnets[:subnets]],
        SecurityGroups=groups or [],
        **extra,
    )
    lb: dict[str, Any] = made["LoadBalancers"][0]
    return lb


async def nlb(elbv2: Any, net: Network, name: str, **extra: Any) -> dict[str, Any]:
    made = await elbv2.create_load_balancer(
        Name=name,
        Type="network",
        Scheme="internal",
        Subnets=[s.subnet_id for s in net.subnets[:2]],
        **extra,
    )
    lb: dict[str, Any] = made["LoadBalancers"][0]
    return lb


async def http_group(elbv2: Any, net: Network, name: str, **extra: Any) -> str:
    made = await elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=net.vpc_id, TargetType="ip", **extra
    )
    arn: str = made["TargetGroups"][0]["TargetGroupArn"]
    return arn


async def http_listener(elbv2: Any, lb_arn: str, group_arn: str, port: int = 80) -> str:
    made = await elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )
    arn: str = made["Listeners"][0]["ListenerArn"]
    return arn


async def web_alb(ec2: Any, elbv2: Any, net: Network) -> tuple[dict[str, Any], str, str]:
    """ALB "web" in a group of its own, HTTP :80 forwarding to target group "web":
    (the load balancer, the target group's ARN, the listener's ARN)."""
    lb = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    group = await http_group(elbv2, net, "web")
    return lb, group, await http_listener(elbv2, lb["LoadBalancerArn"], group)


def forward(group_arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": group_arn}]


def path_is(value: str) -> list[dict[str, Any]]:
    return [{"Field": "path-pattern", "PathPatternConfig": {"Values": [value]}}]
