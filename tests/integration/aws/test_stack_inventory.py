"""Stack discovery against the lab's ELBv2/EC2: by tags in the VPC, chunked and cached."""

from __future__ import annotations

from typing import Any

from lbc.aws.stack_inventory import StackInventory

from lbc_lab.elb_scenario import create_network
from tests.integration.aws.conftest import Adapter

CLUSTER = "c1"
PREFIX = "ingress.k8s.aws"


def stack_tags(stack: str, resource: str, cluster: str = CLUSTER) -> list[dict[str, str]]:
    return [
        {"Key": "elbv2.k8s.aws/cluster", "Value": cluster},
        {"Key": f"{PREFIX}/stack", "Value": stack},
        {"Key": f"{PREFIX}/resource", "Value": resource},
    ]


async def make_lb(adapter: Adapter, name: str, tags: list[dict[str, str]], vpc: Any = None) -> str:
    network = vpc or adapter.network
    made = await adapter.elbv2.create_load_balancer(
        Name=name,
        Type="application",
        Scheme="internal",
        Subnets=[s.subnet_id for s in network.subnets[:2]],
        **({"Tags": tags} if tags else {}),
    )
    return str(made["LoadBalancers"][0]["LoadBalancerArn"])


async def make_tg(adapter: Adapter, name: str, tags: list[dict[str, str]]) -> str:
    made = await adapter.elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=30080,
        VpcId=adapter.network.vpc_id,
        TargetType="instance",
        Tags=tags,
    )
    return str(made["TargetGroups"][0]["TargetGroupArn"])


def inventory(adapter: Adapter, **kw: Any) -> StackInventory:
    return StackInventory(
        adapter.elbv2, adapter.ec2, adapter.calls, vpc_id=adapter.network.vpc_id, **kw
    )


async def test_stack_resources_are_found_by_tags_not_names(adapter: Adapter) -> None:
    mine = await make_lb(adapter, "any-name-at-all", stack_tags("ns/web", "LoadBalancer"))
    # Same stack id, other cluster; same cluster, other stack; no tags: none of them is ours.
    await make_lb(adapter, "k8s-ns-web-other", stack_tags("ns/web", "LoadBalancer", "c2"))
    await make_lb(adapter, "k8s-ns-api", stack_tags("ns/api", "LoadBalancer"))
    await make_lb(adapter, "k8s-ns-web-untagged", [])
    tg = await make_tg(adapter, "tg-by-tags", stack_tags("ns/web", "ns/web-svc:80"))
    legacy = await make_tg(
        adapter,
        "tg-legacy",
        [
            {"Key": "ingress.k8s.aws/cluster", "Value": CLUSTER},
            {"Key": f"{PREFIX}/stack", "Value": "ns/web"},
            {"Key": f"{PREFIX}/resource", "Value": "ns/web-old:80"},
        ],
    )
    other_vpc = await create_network(adapter.ec2, cidr="10.9.0.0/16")
    await make_lb(adapter, "same-tags-other-vpc", stack_tags("ns/web", "LoadBalancer"), other_vpc)

    found = await inventory(adapter).observe(CLUSTER, PREFIX, "ns/web")

    assert [lb.arn for lb in found.load_balancers] == [mine]
    assert {t.arn for t in found.target_groups} == {tg, legacy}
    assert mine not in found.other_arns
    assert len(found.other_arns) == 3  # the three other LBs in this VPC


async def test_tags_are_read_twenty_arns_per_call_and_cached(adapter: Adapter) -> None:
    for n in range(45):
        await make_tg(adapter, f"tg-{n}", stack_tags(f"ns/s{n}", f"ns/s{n}-svc:80"))
    inv = inventory(adapter)
    since = adapter.lab.control.last_seq()

    first = await inv.observe(CLUSTER, PREFIX, "ns/s7")
    again = await inv.observe(CLUSTER, PREFIX, "ns/s8")

    assert [t.name for t in first.target_groups] == ["tg-7"]
    assert [t.name for t in again.target_groups] == ["tg-8"]
    assert adapter.lab.control.count("DescribeTags", since=since) == 3  # 45 ARNs: 20 + 20 + 5
    assert adapter.lab.control.count("DescribeTargetGroups", since=since) == 1  # listing shared


async def test_fresh_observation_sees_what_a_cached_one_missed(adapter: Adapter) -> None:
    inv = inventory(adapter)
    assert (await inv.observe(CLUSTER, PREFIX, "ns/late")).load_balancers == ()
    arn = await make_lb(adapter, "made-meanwhile", stack_tags("ns/late", "LoadBalancer"))

    assert (await inv.observe(CLUSTER, PREFIX, "ns/late")).load_balancers == ()
    fresh = await inv.observe(CLUSTER, PREFIX, "ns/late", fresh=True)
    assert [lb.arn for lb in fresh.load_balancers] == [arn]


async def test_listeners_and_rules_are_read_with_canonical_actions(adapter: Adapter) -> None:
    lb = await make_lb(adapter, "with-listener", stack_tags("ns/r", "LoadBalancer"))
    tg = await make_tg(adapter, "tg-r", stack_tags("ns/r", "ns/r-svc:80"))
    listener = await adapter.elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
        Tags=stack_tags("ns/r", "80"),
    )
    listener_arn = listener["Listeners"][0]["ListenerArn"]
    await adapter.elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg}]}}],
        Tags=stack_tags("ns/r", "80:1"),
    )

    found = await inventory(adapter).observe(CLUSTER, PREFIX, "ns/r")

    (li,) = found.listeners[lb]
    assert li.port == 80
    assert li.tags[f"{PREFIX}/resource"] == "80"
    assert li.default_actions == (("fixed-response", "404", "text/plain", None),)
    (rule,) = li.rules
    assert rule.priority == 1
    assert rule.conditions == (("path-pattern", ("/*",)),)
    assert rule.actions == (("forward", ((tg, None),), False, None),)
    assert rule.tags[f"{PREFIX}/resource"] == "80:1"


async def test_security_groups_are_found_by_cluster_and_stack_tags(adapter: Adapter) -> None:
    async def group(name: str, tags: list[dict[str, str]]) -> str:
        made = await adapter.ec2.create_security_group(
            GroupName=name,
            Description="test",
            VpcId=adapter.network.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )
        return str(made["GroupId"])

    mine = await group("frontend", stack_tags("ns/sg", "ManagedLBSecurityGroup"))
    await group("frontend-other", stack_tags("ns/sg", "ManagedLBSecurityGroup", "c2"))
    backend = await group(
        "k8s-traffic-c1-x",
        [
            {"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER},
            {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"},
        ],
    )
    inv = inventory(adapter)
    found = await inv.observe(CLUSTER, PREFIX, "ns/sg")
    assert [g.group_id for g in found.security_groups] == [mine]
    shared = await inv.backend_security_group(CLUSTER)
    assert shared is not None
    assert shared.group_id == backend
