"""The seed document end to end: an Ingress in cluster A, the shared target group in cluster B.

A's daemon builds the ALB, listener, rule, target group and a MultiCluster binding from the
seed's Ingress; B binds the same target group by hand; the group holds both clusters' nodes.
Deleting A's Ingress while B's targets are registered retains the shared stack for B.
"""

from __future__ import annotations

import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import NS, POD_CIDR_A, POD_CIDR_B, binding, wait_targets
from tests.e2e.stacks import (
    NODE_PORT,
    SEED_INGRESS,
    generated_binding,
    load_balancers,
    stack_cluster,
    tag_subnets_for_load_balancers,
)

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(240)]


async def test_seed_ingress_shares_its_target_group_and_survives_deletion_for_cluster_b(
    world: World,
) -> None:
    await tag_subnets_for_load_balancers(world)
    a, kubectl_a, _ = await stack_cluster(world, "a", pod_cidr=POD_CIDR_A)
    await kubectl_a.apply(SEED_INGRESS)

    generated = await generated_binding(world, kubectl_a)
    spec = generated["spec"]
    assert generated["metadata"]["name"].startswith("k8s-echoserv-echoserv-")
    assert spec["multiClusterTargetGroup"] is True
    assert spec["targetType"] == "instance"
    assert spec["serviceRef"] == {"name": "echoserver", "port": 80}
    assert spec["networking"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": NODE_PORT}]
    arn = spec["targetGroupARN"]
    a_targets = {f"{i.instance_id}:{NODE_PORT}" for i in a.instances.values()}
    await wait_targets(world, arn, a_targets, what="cluster A's nodes", timeout=60)

    (lb,) = await load_balancers(world, "echoserver/echoserver")
    assert lb["Scheme"] == "internet-facing"

    async def status() -> str | None:
        found = await kubectl_a.get("ingress", "echoserver")
        ingress = (((found or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return ingress[0]["hostname"] if ingress else None

    hostname = await eventually(status, timeout=30, what="the Ingress status")
    assert hostname == lb["DNSName"].lower()

    # Cluster B: the seed's hand-written binding on A's target group.
    b, _, _ = await stack_cluster(world, "b", pod_cidr=POD_CIDR_B, stacks=False)
    await b.apply_binding(binding("my-target-group-binding", arn, target_type="instance"))
    b_targets = {f"{i.instance_id}:{NODE_PORT}" for i in b.instances.values()}
    await wait_targets(world, arn, a_targets | b_targets, what="both clusters", timeout=60)

    # The annotation removed: the stack writes multiClusterTargetGroup false, the binding
    # controller refuses (its ledger protects B's targets) and the Ingress says so.
    await kubectl_a.ok(
        "annotate", "ingress", "echoserver", "-n", NS,
        "alb.ingress.kubernetes.io/multi-cluster-target-group-",
    )  # fmt: skip

    async def refused() -> bool:
        return any(
            e.get("reason") == "MultiClusterDisableRefused"
            and e["involvedObject"]["kind"] == "Ingress"
            for e in await a.events(NS)
        )

    await eventually(refused, timeout=60, what="MultiClusterDisableRefused on the Ingress")
    assert await wait_targets(world, arn, a_targets | b_targets, what="nothing removed") is None

    # A's Ingress deleted: B's targets keep the stack alive; A's targets and binding leave.
    await kubectl_a.ok("delete", "ingress", "echoserver", "-n", NS, "--wait=false")

    async def ingress_gone() -> bool:
        return await kubectl_a.get("ingress", "echoserver") is None

    await eventually(ingress_gone, timeout=60, what="A's Ingress finalized")
    await wait_targets(world, arn, b_targets, what="B's targets only", timeout=60)
    assert await kubectl_a.get("targetgroupbinding", generated["metadata"]["name"]) is None
    assert [x["LoadBalancerArn"] for x in await load_balancers(world, "echoserver/echoserver")] == [
        lb["LoadBalancerArn"]
    ]
    events = await a.events(NS)
    assert any(e.get("reason") == "SharedStackRetained" for e in events)
