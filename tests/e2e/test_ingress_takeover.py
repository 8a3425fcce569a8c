"""Take-over of a stack LBC built, and the consent to delete a shared stack.

The fixture is the seed's stack written by hand from LBC's rules (reference §2): the tags, the
resource ids, the binding's labels and spec, the Ingress's finalizer. Its AWS names are *not*
the ones lbc computes, so finding it proves discovery by tags. lbc must adopt it with no create,
no delete and no modification of any stack resource.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_scenario import run_instances
from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import NS, POD_CIDR_A, wait_targets
from tests.e2e.stacks import (
    NODE_PORT,
    calls,
    last_seq,
    lbc_binding,
    lbc_security_groups,
    lbc_tags as stack_tags,
    load_balancers,
    mutations,
    next_reconcile,
    seed_ingress,
    stack_cluster,
    tag_subnets_for_load_balancers,
)

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(240)]

CLUSTER = "a"
STACK = "echoserver/echoserver"
TG_ID = "echoserver/echoserver-echoserver:80"
USER_TAGS = {"Environment": "dev", "Team": "test"}


def lbc_tags(resource: str) -> list[dict[str, str]]:
    return stack_tags("ingress", STACK, resource, **USER_TAGS)


async def build_lbc_stack(world: World) -> dict[str, str]:
    """The seed's stack as LBC leaves it in AWS (names chosen freely: LBC pairs by tags)."""
    vpc = world.net.vpc_id
    backend, frontend = await lbc_security_groups(
        world, "lbc-takeover", lbc_tags("ManagedLBSecurityGroup")
    )
    tg = await world.elbv2.create_target_group(
        Name="lbc-takeover-tg", Protocol="HTTP", ProtocolVersion="HTTP1", Port=NODE_PORT,
        VpcId=vpc, TargetType="instance", IpAddressType="ipv4", HealthCheckProtocol="HTTP",
        HealthCheckPort="traffic-port", HealthCheckPath="/", HealthCheckIntervalSeconds=15,
        HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
        Matcher={"HttpCode": "200"}, Tags=lbc_tags(TG_ID),
    )  # fmt: skip
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    lb = await world.elbv2.create_load_balancer(
        Name="lbc-takeover-alb", Type="application", Scheme="internet-facing",
        IpAddressType="ipv4", Subnets=[s.subnet_id for s in world.net.subnets],
        SecurityGroups=[frontend, backend], Tags=lbc_tags("LoadBalancer"),
    )  # fmt: skip
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    listener = await world.elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain"}}],
        Tags=lbc_tags("80"),
    )  # fmt: skip
    await world.elbv2.create_rule(
        ListenerArn=listener["Listeners"][0]["ListenerArn"], Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/"]}}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg_arn}]}}],
        Tags=lbc_tags("80:1"),
    )  # fmt: skip
    return {"tg": tg_arn, "lb": lb_arn, "backend": backend, "vpc": vpc, "node_port": str(NODE_PORT)}


def binding_of(made: dict[str, str]) -> dict[str, Any]:
    """The binding as LBC's deployer writes it (§9.2 item 1; the seed's spec plus protocol)."""
    return lbc_binding(
        made, "ingress", "k8s-echoserv-echoserv-cc0122e143", "echoserver", "echoserver",
        multiClusterTargetGroup=True, targetGroupProtocol="HTTP",
    )  # fmt: skip


async def test_lbc_built_stack_is_adopted_without_a_mutation_then_deleted_with_consent(
    world: World,
) -> None:
    await tag_subnets_for_load_balancers(world)
    made = await build_lbc_stack(world)
    since = last_seq(world)
    a, kubectl, daemon = await stack_cluster(world, CLUSTER, pod_cidr=POD_CIDR_A)
    created = await a.apply_binding(binding_of(made))
    ingress = seed_ingress()
    ingress["metadata"]["finalizers"] = ["ingress.k8s.aws/resources"]
    await kubectl.apply(ingress)
    await next_reconcile(world, daemon, 0)

    assert mutations(world, since) == {}, "lbc changed LBC's stack"
    binding = await a.get_binding(NS, "k8s-echoserv-echoserv-cc0122e143")
    assert binding is not None
    assert binding["metadata"]["uid"] == created["metadata"]["uid"]
    nodes = {f"{i.instance_id}:{NODE_PORT}" for i in a.instances.values()}
    await wait_targets(world, made["tg"], nodes, what="the nodes", timeout=60)

    async def hostname() -> str | None:
        found = await kubectl.get("ingress", "echoserver")
        lb = (((found or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return lb[0]["hostname"] if lb else None

    (lb,) = await load_balancers(world, STACK)
    assert await eventually(hostname, timeout=30, what="the status") == lb["DNSName"].lower()

    # Another cluster's targets are in the group, but the Ingress consents: the stack goes.
    others = await run_instances(world.ec2, world.net, 2, subnet=1)
    await world.elbv2.register_targets(
        TargetGroupArn=made["tg"],
        Targets=[{"Id": i.instance_id, "Port": NODE_PORT} for i in others],
    )
    await kubectl.ok(
        "annotate", "ingress", "echoserver", "-n", NS, "lbc.k8s.aws/delete-shared-stack=true"
    )
    since = last_seq(world)
    await kubectl.ok("delete", "ingress", "echoserver", "-n", NS, "--wait=false")

    async def gone() -> bool:
        world.check_daemons()
        return await kubectl.get("ingress", "echoserver") is None

    await eventually(gone, timeout=90, what="the Ingress finalized")
    assert await load_balancers(world, STACK) == []
    assert "DeleteTargetGroup" in calls(world, since)
    events = await a.events(NS)
    assert not any(e.get("reason") == "SharedStackRetained" for e in events)
