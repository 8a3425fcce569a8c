"""Instance targets end to end: node churn, a bad providerID, the default node selector."""

from __future__ import annotations

import pytest

from lbc_lab.elb_scenario import run_instances
from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import binding, echoserver, wait_targets, warning_reasons

pytestmark = pytest.mark.timeout(120)

NODE_PORT = 32197


async def test_instance_targets_follow_node_churn_and_skip_unsuitable_nodes(
    world: World,
) -> None:
    tg = await world.target_group("nodes", target_type="instance")
    a = await world.add_cluster("a", nodes=3, pod_cidr="10.0.8.0/22")
    good = dict(a.instances)

    # A control-plane node (default selector excludes it) backed by a real instance...
    [master] = await run_instances(world.ec2, world.net, 1)
    await a.kube.add_node(
        "master-0",
        instance_id=master.instance_id,
        labels={"node-role.kubernetes.io/master": ""},
        ip=master.private_ip,
    )
    # ...and a node whose providerID names no instance: skipped with a Warning, not fatal.
    await a.kube.add_node("weird-0", instance_id=None, provider_id="aws:///us-east-1a/bogus")

    await echoserver(a, 2, service_type="NodePort", node_port=NODE_PORT)
    await a.apply_binding(binding("web", tg.arn, target_type="instance", multi_cluster=False))
    await world.start_daemon(a)

    def expected() -> set[str]:
        return {f"{i.instance_id}:{NODE_PORT}" for i in good.values()}

    await wait_targets(world, tg.arn, expected(), what="suitable nodes only")

    async def warned() -> bool:
        return "InvalidProviderID" in await warning_reasons(a)

    await eventually(warned, timeout=10, what="a Warning for the bad providerID")

    # Churn: two nodes join, one goes NotReady, one is marked for deletion, one is removed.
    joined = await world.add_nodes(a, 2)
    good.update({n: a.instances[n] for n in joined})
    await wait_targets(world, tg.arn, expected(), what="new nodes registered")

    names = sorted(good)
    not_ready, doomed, removed = names[0], names[1], names[2]
    await a.kube.set_node_ready(not_ready, "False")
    await a.kube.patch_node(
        doomed,
        {"spec": {"taints": [{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]}},
    )
    await a.kube.delete_node(removed)
    for name in (not_ready, doomed, removed):
        del good[name]
    await wait_targets(world, tg.arn, expected(), what="unsuitable nodes deregistered")

    await a.kube.set_node_ready(not_ready, "True")
    good[not_ready] = a.instances[not_ready]
    await wait_targets(world, tg.arn, expected(), what="node Ready again")
