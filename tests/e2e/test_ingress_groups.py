"""Two Ingresses in one explicit group: one ALB, rules in group order, the rest kept on a leave."""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import NS
from tests.e2e.stacks import load_balancers, stack_cluster, tag_subnets_for_load_balancers

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(240)]

GROUP = "shared"


def member(name: str, path: str, order: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {
                "alb.ingress.kubernetes.io/group.name": GROUP,
                "alb.ingress.kubernetes.io/group.order": str(order),
            },
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [{"http": {"paths": [{
                "path": path, "pathType": "Prefix",
                "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}],
        },
    }  # fmt: skip


async def rule_paths(world: World, lb_arn: str) -> list[tuple[int, tuple[str, ...]]]:
    (listener,) = (await world.elbv2.describe_listeners(LoadBalancerArn=lb_arn))["Listeners"]
    rules = (await world.elbv2.describe_rules(ListenerArn=listener["ListenerArn"]))["Rules"]
    found = []
    for rule in rules:
        if rule["IsDefault"]:
            continue
        (cond,) = rule["Conditions"]
        values = (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values")
        found.append((int(rule["Priority"]), tuple(values)))
    return sorted(found)


async def test_two_ingresses_in_one_group_share_one_alb_with_rules_in_group_order(
    world: World,
) -> None:
    await tag_subnets_for_load_balancers(world)
    _a, kubectl, _ = await stack_cluster(world, "a", pod_cidr="10.0.8.0/22")
    # "web" is applied first but orders after "api".
    await kubectl.apply(member("web", "/web", 10))
    await kubectl.apply(member("api", "/api", 1))

    async def both_rules() -> list[Any] | None:
        found = await load_balancers(world, GROUP)
        if len(found) != 1:
            return None
        paths = await rule_paths(world, found[0]["LoadBalancerArn"])
        return found if len(paths) == 2 else None

    (lb,) = await eventually(both_rules, timeout=60, what="one ALB with both members' rules")
    assert await rule_paths(world, lb["LoadBalancerArn"]) == [
        (1, ("/api", "/api/*")),
        (2, ("/web", "/web/*")),
    ]
    for name in ("api", "web"):

        async def reported(name: str = name) -> bool:
            found = await kubectl.get("ingress", name) or {}
            status = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            return bool(status) and status[0]["hostname"] == lb["DNSName"].lower()

        await eventually(reported, timeout=30, what=f"{name}'s status")
        found = await kubectl.get("ingress", name)
        assert found is not None
        assert f"group.ingress.k8s.aws/{GROUP}" in found["metadata"]["finalizers"]

    # "api" leaves: its rule goes, "web" moves up, the ALB stays.
    await kubectl.ok("delete", "ingress", "api", "-n", NS, "--wait=false")

    async def one_rule() -> bool:
        return await rule_paths(world, lb["LoadBalancerArn"]) == [(1, ("/web", "/web/*"))]

    await eventually(one_rule, timeout=60, what="web's rule alone")
    assert [x["LoadBalancerArn"] for x in await load_balancers(world, GROUP)] == [
        lb["LoadBalancerArn"]
    ]

    async def api_gone() -> bool:
        return await kubectl.get("ingress", "api") is None

    await eventually(api_gone, timeout=30, what="api finalized")
