"""One Ingress through its life on the lab: restart, hand-deleted binding, in-place change,
hands-off, replacement, deletion, each checked against the AWS calls the lab saw."""

from __future__ import annotations

import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import NS, POD_CIDR_A, pod_targets, wait_targets
from tests.e2e.stacks import (
    NODE_PORT,
    calls,
    generated_binding,
    last_seq,
    load_balancers,
    mutations,
    next_reconcile,
    reconciles,
    seed_ingress,
    stack_cluster,
    tag_subnets_for_load_balancers,
)

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(300)]

ANNOTATION = "alb.ingress.kubernetes.io/"


async def test_ingress_stack_converges_changes_in_place_replaces_and_deletes_in_order(
    world: World,
) -> None:
    await tag_subnets_for_load_balancers(world)
    a, kubectl, daemon = await stack_cluster(world, "a", pod_cidr=POD_CIDR_A)
    ingress = seed_ingress()
    del ingress["metadata"]["annotations"][ANNOTATION + "multi-cluster-target-group"]
    await kubectl.apply(ingress)
    first = await generated_binding(world, kubectl)
    arn = first["spec"]["targetGroupARN"]
    nodes = {f"{i.instance_id}:{NODE_PORT}" for i in a.instances.values()}
    await wait_targets(world, arn, nodes, what="the nodes", timeout=60)
    (lb,) = await load_balancers(world, "echoserver/echoserver")

    # A restart with nothing changed: the new daemon reconciles the stack and writes nothing.
    await daemon.stop()
    a.daemons.remove(daemon)
    since = last_seq(world)
    daemon = await world.start_daemon(
        a, name="lbc-restarted", env={"LBC_STACKS": "ingress", "LBC_VPC_ID": world.net.vpc_id}
    )
    await next_reconcile(world, daemon, 0)
    assert mutations(world, since) == {}

    # The generated binding deleted by hand comes back, on the same target group.
    await kubectl.ok("delete", "targetgroupbinding", first["metadata"]["name"], "-n", NS)
    back = await generated_binding(world, kubectl)
    assert back["metadata"]["uid"] != first["metadata"]["uid"]
    assert back["spec"]["targetGroupARN"] == arn

    # A health-check annotation: the target group is modified in place, nothing else.
    done = reconciles(daemon)
    since = last_seq(world)
    await kubectl.ok(
        "annotate", "ingress", "echoserver", "-n", NS, f"{ANNOTATION}healthcheck-path=/healthz"
    )

    async def modified() -> bool:
        found = await world.elbv2.describe_target_groups(TargetGroupArns=[arn])
        return bool(found["TargetGroups"][0]["HealthCheckPath"] == "/healthz")

    await eventually(modified, timeout=30, what="the health check modified")
    await next_reconcile(world, daemon, done)
    assert mutations(world, since) == {"ModifyTargetGroup": 1}

    # An unsupported annotation: hands-off, no write at all, one Warning naming the key.
    done = reconciles(daemon)
    since = last_seq(world)
    before = await generated_binding(world, kubectl)
    await kubectl.ok(
        "annotate", "ingress", "echoserver", "-n", NS,
        f"{ANNOTATION}certificate-arn=arn:aws:acm:us-east-1:123456789012:certificate/x",
    )  # fmt: skip

    async def warned() -> bool:
        return any(
            e.get("reason") == "UnsupportedSettings" and "certificate-arn" in e.get("message", "")
            for e in await a.events(NS)
        )

    await eventually(warned, timeout=30, what="the hands-off Warning")
    assert mutations(world, since) == {}
    assert reconciles(daemon) == done
    after = await generated_binding(world, kubectl)
    # (The binding controller may write status and checkpoints; the stack wrote nothing.)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"].get("generation") == before["metadata"].get("generation")
    assert after["metadata"].get("labels") == before["metadata"].get("labels")
    found = await kubectl.get("ingress", "echoserver")
    assert found is not None
    assert found["metadata"]["finalizers"] == ["ingress.k8s.aws/resources"]
    await kubectl.ok("annotate", "ingress", "echoserver", "-n", NS, f"{ANNOTATION}certificate-arn-")

    # target-type ip: a new group and binding; the rule re-pointed; the old group deleted last.
    since = last_seq(world)
    await kubectl.ok("annotate", "ingress", "echoserver", "-n", NS, f"{ANNOTATION}target-type=ip")

    async def replaced() -> dict[str, object] | None:
        found = await generated_binding(world, kubectl)
        return found if found["spec"]["targetGroupARN"] != arn else None

    second = await eventually(replaced, timeout=60, what="the replacement binding")
    new_arn = str(second["spec"]["targetGroupARN"])  # type: ignore[index]
    await wait_targets(world, new_arn, pod_targets(a), what="pod targets", timeout=60)

    async def old_deleted() -> bool:
        return "DeleteTargetGroup" in calls(world, since)

    await eventually(old_deleted, timeout=60, what="the old group deleted")
    seen = calls(world, since)
    assert (
        seen.index("CreateTargetGroup") < seen.index("ModifyRule") < seen.index("DeleteTargetGroup")
    )
    groups = {
        t["TargetGroupArn"] for t in (await world.elbv2.describe_target_groups())["TargetGroups"]
    }
    assert arn not in groups
    assert new_arn in groups
    assert [x["LoadBalancerArn"] for x in await load_balancers(world, "echoserver/echoserver")] == [
        lb["LoadBalancerArn"]
    ]

    # Deletion: load balancer, then (the binding gone) the target group, then the frontend group.
    since = last_seq(world)
    await kubectl.ok("delete", "ingress", "echoserver", "-n", NS, "--wait=false")

    async def gone() -> bool:
        return await kubectl.get("ingress", "echoserver") is None

    await eventually(gone, timeout=90, what="the Ingress finalized")
    deletes = [c for c in calls(world, since) if c.startswith("Delete") and c != "DeleteTags"]
    assert list(dict.fromkeys(deletes)) == [
        "DeleteLoadBalancer",
        "DeleteTargetGroup",
        "DeleteSecurityGroup",
    ]
    assert await load_balancers(world, "echoserver/echoserver") == []
    assert await kubectl.items("targetgroupbinding") == []
