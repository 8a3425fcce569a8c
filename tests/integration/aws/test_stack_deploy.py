"""The stack deployer against the lab's ELBv2/EC2: create, converge, replace, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import pytest
from lbc.aws.stack_inventory import StackInventory
from lbc.aws.stack_writes import ForeignResourceError, StackWriter
from lbc.control.stack_bindings import StackBindings
from lbc.control.stackdeploy import StackDeployer
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    BackendSecurityGroup,
    LoadBalancer,
    Scheme,
    Stack,
    TargetType,
    empty_stack,
    tags_of,
)

from tests.integration.aws.conftest import Adapter
from tests.unit.core.test_stack_changes import CLUSTER, SID, TG_ID, seed_stack, tags, target_group

MUTATING = (
    "CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateRule",
    "CreateSecurityGroup", "DeleteLoadBalancer", "DeleteTargetGroup", "DeleteListener",
    "DeleteRule", "DeleteSecurityGroup", "ModifyTargetGroup", "ModifyListener", "ModifyRule",
    "SetRulePriorities", "SetSecurityGroups", "SetSubnets", "AddTags", "RemoveTags",
    "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateTags", "DeleteTags",
    "ModifyTargetGroupAttributes", "ModifyLoadBalancerAttributes",
)  # fmt: skip


class NoBindings(StackBindings):
    def __init__(self) -> None:
        pass

    async def apply(self, stack: Any, wanted: Any) -> bool:
        return False

    async def delete_unwanted(self, stack: Any, keep_arns: Any) -> bool:
        return False


def deployer(adapter: Adapter) -> StackDeployer:
    async def lab_sleep(seconds: float) -> None:
        # Deletion retries wait in lab time: the lab's ResourceInUse window after a load
        # balancer's deletion passes without the test waiting for it.
        await anyio.to_thread.run_sync(adapter.lab.control.advance, seconds)

    inv = StackInventory(adapter.elbv2, adapter.ec2, adapter.calls, vpc_id=adapter.network.vpc_id)
    writer = StackWriter(adapter.elbv2, adapter.ec2, adapter.calls, inv, sleep=lab_sleep)
    return StackDeployer(inv, writer, NoBindings(), vpc_id=adapter.network.vpc_id)


def lab_stack(adapter: Adapter, **kw: Any) -> Stack:
    stack = seed_stack(**kw)
    assert stack.load_balancer is not None
    lb = replace(
        stack.load_balancer, subnets=tuple(s.subnet_id for s in adapter.network.subnets[:2])
    )
    backend = BackendSecurityGroup(
        "k8s-traffic-c1-0123456789",
        "[k8s] Shared Backend SecurityGroup for LoadBalancer",
        tags_of({"elbv2.k8s.aws/cluster": CLUSTER, "elbv2.k8s.aws/resource": "backend-sg"}),
    )
    return replace(stack, load_balancer=lb, backend_security_group=backend)


def mutations(adapter: Adapter, since: int) -> dict[str, int]:
    counts = {op: adapter.lab.control.count(op, since=since) for op in MUTATING}
    return {op: n for op, n in counts.items() if n}


async def test_seed_stack_is_built_then_left_alone(adapter: Adapter) -> None:
    deploy = deployer(adapter)
    result = await deploy.deploy(lab_stack(adapter))
    assert result.load_balancer_arn
    assert result.dns_name
    lbs = await adapter.elbv2.describe_load_balancers(LoadBalancerArns=[result.load_balancer_arn])
    (lb,) = lbs["LoadBalancers"]
    assert len(lb["SecurityGroups"]) == 2
    listeners = await adapter.elbv2.describe_listeners(LoadBalancerArn=result.load_balancer_arn)
    assert [li["Port"] for li in listeners["Listeners"]] == [80]
    tg_arn = result.target_groups[TG_ID]
    found = await adapter.elbv2.describe_tags(ResourceArns=[tg_arn])
    tg_tags = {t["Key"]: t["Value"] for t in found["TagDescriptions"][0]["Tags"]}
    assert tg_tags == tags(TG_ID)

    since = adapter.lab.control.last_seq()
    again = await deployer(adapter).deploy(lab_stack(adapter))  # a restarted process
    assert again.changed == []
    assert mutations(adapter, since) == {}
    assert again.target_groups == result.target_groups


async def test_target_type_change_replaces_the_group_and_deletes_the_old_one_last(
    adapter: Adapter,
) -> None:
    deploy = deployer(adapter)
    first = await deploy.deploy(lab_stack(adapter))
    old = first.target_groups[TG_ID]
    since = adapter.lab.control.last_seq()
    ip = lab_stack(
        adapter,
        target_groups=(target_group(target_type=TargetType.IP, port=8080, name="k8s-ip-ip-1"),),
    )
    second = await deploy.deploy(ip)
    new = second.target_groups[TG_ID]
    assert new != old
    calls = [c.operation for c in adapter.lab.control.calls(since=since)]
    assert (
        calls.index("CreateTargetGroup")
        < calls.index("ModifyRule")
        < calls.index("DeleteTargetGroup")
    )
    rules = await adapter.elbv2.describe_rules(
        ListenerArn=(await adapter.elbv2.describe_listeners(
            LoadBalancerArn=second.load_balancer_arn))["Listeners"][0]["ListenerArn"]
    )  # fmt: skip
    forwards = [r for r in rules["Rules"] if not r["IsDefault"]]
    assert forwards[0]["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == new
    remaining = await adapter.elbv2.describe_target_groups()
    assert old not in {t["TargetGroupArn"] for t in remaining["TargetGroups"]}


async def test_health_check_change_modifies_in_place(adapter: Adapter) -> None:
    deploy = deployer(adapter)
    first = await deploy.deploy(lab_stack(adapter))
    stack = lab_stack(adapter)
    hc = replace(stack.target_groups[0].health_check, path="/healthz", interval_seconds=30)
    since = adapter.lab.control.last_seq()
    second = await deploy.deploy(replace(stack, target_groups=(target_group(health_check=hc),)))
    assert second.target_groups == first.target_groups
    assert mutations(adapter, since) == {"ModifyTargetGroup": 1}


async def test_empty_stack_deletes_in_order_and_keeps_foreign_resources(adapter: Adapter) -> None:
    deploy = deployer(adapter)
    built = await deploy.deploy(lab_stack(adapter))
    foreign = await adapter.elbv2.create_target_group(
        Name="someone-elses", Protocol="HTTP", Port=80, VpcId=adapter.network.vpc_id,
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "c2"},
              {"Key": "ingress.k8s.aws/stack", "Value": SID.value},
              {"Key": "ingress.k8s.aws/resource", "Value": TG_ID}],
    )  # fmt: skip
    since = adapter.lab.control.last_seq()
    await deploy.deploy(empty_stack(SID, CLUSTER))
    calls = [c.operation for c in adapter.lab.control.calls(since=since)]
    deletes = [c for c in calls if c.startswith("Delete") and c != "DeleteTags"]
    # The target group is retried while AWS still holds it for the deleted load balancer.
    assert list(dict.fromkeys(deletes)) == [
        "DeleteLoadBalancer",
        "DeleteTargetGroup",
        "DeleteSecurityGroup",
    ]
    left = {
        t["TargetGroupArn"] for t in (await adapter.elbv2.describe_target_groups())["TargetGroups"]
    }
    assert foreign["TargetGroups"][0]["TargetGroupArn"] in left
    assert built.target_groups[TG_ID] not in left


async def test_create_answered_with_a_foreign_resource_stops_the_stack(adapter: Adapter) -> None:
    stack = lab_stack(adapter)
    assert stack.load_balancer is not None
    # Someone else's target group with the name lbc computes: the create must not adopt it.
    await adapter.elbv2.create_target_group(
        Name=stack.target_groups[0].name, Protocol="HTTP", Port=30080,
        VpcId=adapter.network.vpc_id, TargetType="instance",
        Tags=[{"Key": "owner", "Value": "terraform"}],
    )  # fmt: skip
    since = adapter.lab.control.last_seq()
    with pytest.raises(ForeignResourceError):
        await deployer(adapter).deploy(stack)
    assert adapter.lab.control.count("CreateLoadBalancer", since=since) == 0
    assert adapter.lab.control.count("DeleteTargetGroup", since=since) == 0


async def test_scheme_change_replaces_the_load_balancer(adapter: Adapter) -> None:
    deploy = deployer(adapter)
    first = await deploy.deploy(lab_stack(adapter))
    stack = lab_stack(adapter)
    assert stack.load_balancer is not None
    internal: LoadBalancer = replace(stack.load_balancer, scheme=Scheme.INTERNAL, name="k8s-x-y-1")
    second = await deploy.deploy(replace(stack, load_balancer=internal))
    assert second.load_balancer_arn != first.load_balancer_arn
    listeners = await adapter.elbv2.describe_listeners(LoadBalancerArn=second.load_balancer_arn)
    assert len(listeners["Listeners"]) == 1
    assert FRONTEND_SG in internal.security_groups
    assert BACKEND_SG in internal.security_groups


async def test_own_creates_are_in_the_listing_without_a_relist(adapter: Adapter) -> None:
    deploy = deployer(adapter)
    built = await deploy.deploy(lab_stack(adapter))
    since = adapter.lab.control.last_seq()
    seen = await deploy.observe(lab_stack(adapter))
    assert [lb.arn for lb in seen.load_balancers] == [built.load_balancer_arn]
    assert [tg.arn for tg in seen.target_groups] == [built.target_groups[TG_ID]]
    listing = ("DescribeLoadBalancers", "DescribeTargetGroups")
    assert sum(adapter.lab.control.count(op, since=since) for op in listing) == 0


async def test_concurrent_stacks_share_one_backend_group(adapter: Adapter) -> None:
    from lbc.core.stack.model import StackId, StackKind

    deploy = deployer(adapter)

    def other(name: str) -> Stack:
        sid = StackId(StackKind.INGRESS, "echoserver", name)
        base = lab_stack(adapter)
        assert base.load_balancer is not None
        assert base.security_group is not None

        def retag(tags: Any, rid: str) -> Any:
            return tags_of(
                {**dict(tags), "ingress.k8s.aws/stack": sid.value, "ingress.k8s.aws/resource": rid}
            )

        return replace(
            base,
            id=sid,
            tags=sid.stack_tags(CLUSTER),
            load_balancer=replace(base.load_balancer, name=f"lb-{name}",
                                  tags=retag(base.load_balancer.tags, "LoadBalancer")),
            security_group=replace(base.security_group, name=f"sg-{name}",
                                   tags=retag(base.security_group.tags, "ManagedLBSecurityGroup")),
            listeners=tuple(
                replace(li, tags=retag(li.tags, li.resource_id)) for li in base.listeners
            ),
            rules=tuple(replace(r, tags=retag(r.tags, r.resource_id)) for r in base.rules),
            target_groups=tuple(
                replace(tg, name=f"tg-{name}", tags=retag(tg.tags, tg.resource_id))
                for tg in base.target_groups
            ),
        )  # fmt: skip

    async with anyio.create_task_group() as group:
        for name in ("one", "two", "three"):
            group.start_soon(deploy.deploy, other(name))
    found = await adapter.ec2.describe_security_groups(
        Filters=[{"Name": "tag:elbv2.k8s.aws/resource", "Values": ["backend-sg"]}]
    )
    assert len(found["SecurityGroups"]) == 1
