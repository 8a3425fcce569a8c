"""Stack fidelity: what deleting a stack's pieces does, in AWS's order of refusals.

Deletion protection, security groups still in use, a target group briefly in use after its load
balancer went, and a group's ``LoadBalancerArns`` (hence its targets' health) following what
still forwards to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network

from .conftest import states
from .stacks import (
    alb,
    error_of,
    forward,
    http_group,
    http_listener,
    path_is,
    security_group,
    web_alb,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_deletion_protection_refuses_the_delete(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    lb = await alb(elbv2, net, "protected", groups=[await security_group(ec2, net, "web")])
    arn = lb["LoadBalancerArn"]
    await elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    code, _ = await error_of(elbv2.delete_load_balancer, LoadBalancerArn=arn)
    assert code == "OperationNotPermitted"
    assert (await elbv2.describe_load_balancers(LoadBalancerArns=[arn]))["LoadBalancers"]
    elb_lab.control.set_fidelity(deletion_protection=False)
    await elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert (await elbv2.describe_load_balancers())["LoadBalancers"] == []


async def test_security_group_in_use_cannot_be_deleted(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    frontend = await security_group(ec2, net, "frontend")
    backend = await security_group(ec2, net, "backend")
    nodes = await security_group(ec2, net, "nodes")
    await ec2.authorize_security_group_ingress(
        GroupId=nodes,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 30000,
                "ToPort": 32767,
                "UserIdGroupPairs": [{"GroupId": backend}],
            }
        ],
    )
    lb = await alb(elbv2, net, "web", groups=[frontend, backend])
    code, message = await error_of(ec2.delete_security_group, GroupId=frontend)
    assert (code, message) == ("DependencyViolation", f"resource {frontend} has a dependent object")
    await elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    await ec2.delete_security_group(GroupId=frontend)
    code, _ = await error_of(ec2.delete_security_group, GroupId=backend)
    assert code == "DependencyViolation", "still the source of the nodes group's rule"
    calls = elb_lab.control.calls("DeleteSecurityGroup")
    assert [c.outcome for c in calls] == ["DependencyViolation", "ok", "DependencyViolation"]
    assert all(c.injected is None for c in calls), "a fidelity refusal is not an injected fault"
    elb_lab.control.set_fidelity(sg_dependencies=False)
    await ec2.delete_security_group(GroupId=backend)


async def test_target_group_is_in_use_for_a_while_after_its_load_balancer(
    ec2: Any, elbv2: Any, net: Network, paused: ElbLab
) -> None:
    lb, group, _listener = await web_alb(ec2, elbv2, net)
    code, _ = await error_of(elbv2.delete_target_group, TargetGroupArn=group)
    assert code == "ResourceInUse", "a listener forwards to it"
    await elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    code, _ = await error_of(elbv2.delete_target_group, TargetGroupArn=group)
    assert code == "ResourceInUse", "AWS releases the association asynchronously"
    paused.control.advance(5)
    await elbv2.delete_target_group(TargetGroupArn=group)
    assert (await elbv2.describe_target_groups())["TargetGroups"] == []


async def test_in_use_window_is_configurable(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    elb_lab.control.set_fidelity(tg_in_use_seconds=0)
    lb, group, _listener = await web_alb(ec2, elbv2, net)
    await elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    await elbv2.delete_target_group(TargetGroupArn=group)


async def test_load_balancer_arns_follow_what_forwards_and_targets_go_unused(
    ec2: Any, elbv2: Any, net: Network, paused: ElbLab
) -> None:
    lb = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    lb_arn = lb["LoadBalancerArn"]
    default = await http_group(elbv2, net, "default")
    api = await http_group(elbv2, net, "api")
    listener = await http_listener(elbv2, lb_arn, default)
    rule = await elbv2.create_rule(
        ListenerArn=listener, Priority=1, Conditions=path_is("/api"), Actions=forward(api)
    )
    await elbv2.register_targets(TargetGroupArn=api, Targets=[{"Id": net.ip(1)}])
    paused.control.advance(600)
    assert (await states(elbv2, api))[(net.ip(1), 8080)] == ("healthy", "")

    async def users(arn: str) -> list[str]:
        (group,) = (await elbv2.describe_target_groups(TargetGroupArns=[arn]))["TargetGroups"]
        found: list[str] = group["LoadBalancerArns"]
        return found

    assert await users(api) == [lb_arn]
    await elbv2.delete_rule(RuleArn=rule["Rules"][0]["RuleArn"])
    assert await users(api) == []
    assert (await states(elbv2, api))[(net.ip(1), 8080)] == ("unused", "Target.NotInUse")
    assert await users(default) == [lb_arn]
    await elbv2.delete_listener(ListenerArn=listener)
    assert await users(default) == []


async def test_moto_keeps_stale_load_balancer_arns_when_the_rule_is_off(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    elb_lab.control.set_fidelity(tg_load_balancers_live=False, tg_in_use_seconds=0)
    lb, group, _listener = await web_alb(ec2, elbv2, net)
    await elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    (described,) = (await elbv2.describe_target_groups(TargetGroupArns=[group]))["TargetGroups"]
    assert described["LoadBalancerArns"] == [lb["LoadBalancerArn"]]


async def test_rule_priorities_can_be_swapped(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    _lb, group, listener = await web_alb(ec2, elbv2, net)
    arns = []
    for priority, path in ((1, "/a"), (2, "/b"), (3, "/c")):
        made = await elbv2.create_rule(
            ListenerArn=listener,
            Priority=priority,
            Conditions=path_is(path),
            Actions=forward(group),
        )
        arns.append(made["Rules"][0]["RuleArn"])
    swap = [{"RuleArn": arns[0], "Priority": 2}, {"RuleArn": arns[1], "Priority": 1}]
    elb_lab.control.set_fidelity(rule_priority_swaps=False)
    code, _ = await error_of(elbv2.set_rule_priorities, RulePriorities=swap)
    assert code == "PriorityInUse", "moto refuses a swap"
    elb_lab.control.set_fidelity(rule_priority_swaps=True)
    await elbv2.set_rule_priorities(RulePriorities=swap)
    rules = (await elbv2.describe_rules(ListenerArn=listener))["Rules"]
    by_arn = {r["RuleArn"]: r["Priority"] for r in rules}
    assert [by_arn[a] for a in arns] == ["2", "1", "3"]
    code, _ = await error_of(
        elbv2.set_rule_priorities, RulePriorities=[{"RuleArn": arns[0], "Priority": 3}]
    )
    assert code == "PriorityInUse", "3 is held by a rule that does not move"
