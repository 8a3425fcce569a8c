"""A network partition, end to end: nodes go Unknown, their pods are evicted, the nodes return.

The reference controller keeps serving a binding whose every node went Unknown, even once
eviction marks the pods terminating (their deletion cannot complete while the kubelet is cut
off, and the pods usually still serve). lbc must do the same: a partition followed by eviction
must not deregister the group's targets. They go only when the nodes come back (and the
evicted pods are really gone), replaced by the new pods.
"""

from __future__ import annotations

import pytest

from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import (
    APP,
    NS,
    Guard,
    active_targets,
    converged_binding,
    pod_targets,
    wait_targets,
    warning_reasons,
)

pytestmark = pytest.mark.timeout(120)


async def _full_passes(world: World, arn: str, after: int, count: int) -> None:
    """Wait until ``count`` more DescribeTargetHealth calls than ``after`` reached the lab."""
    assert world.control is not None
    control = world.control

    async def seen() -> bool:
        world.check_daemons()
        return len(control.calls("DescribeTargetHealth", target_group_arn=arn)) >= after + count

    await eventually(seen, timeout=30, what=f"{count} more full passes")


def _describes(world: World, arn: str) -> int:
    assert world.control is not None
    return len(world.control.calls("DescribeTargetHealth", target_group_arn=arn))


async def _partitioned(world: World, cluster: Cluster, arn: str) -> tuple[str, set[str]]:
    """Partition the cluster's only node and wait until lbc reports fail-open."""
    (node,) = cluster.instances
    registered = pod_targets(cluster)
    await cluster.kube.partition_node(node)

    async def failing_open() -> bool:
        world.check_daemons()
        return "FailOpen" in await warning_reasons(cluster)

    await eventually(failing_open, timeout=20, what="FailOpen warning")
    return node, registered


async def test_partition_then_eviction_keeps_targets_until_the_node_returns(world: World) -> None:
    # Normal mode: here the old rule deregistered the whole group.
    tg, a, _daemon = await converged_binding(
        world, "partition", 3, multi_cluster=False, env={"LBC_DRIFT_VERIFY_PERIOD": "2s"}
    )

    async with Guard(world, tg.arn, pod_targets(a)).watching():
        node, registered = await _partitioned(world, a, tg.arn)
        evicted = await a.kube.evict_node_pods(node)
        assert len(evicted) == 3
        # Two full passes (drift verifications) after the eviction: each would have
        # deregistered the terminating endpoints under the old rule.
        await _full_passes(world, tg.arn, _describes(world, tg.arn), 2)
        assert await active_targets(world, tg.arn) == registered

    # The partition ends: the evicted pods finish terminating, replacements start.
    await a.kube.heal_node(node)
    await a.kube.scale(NS, APP, 3)
    replacements = pod_targets(a)
    assert not replacements & registered
    await wait_targets(world, tg.arn, replacements, what="replacements only after the heal")


async def test_partitioned_pods_that_are_gone_are_deregistered(world: World) -> None:
    tg, a, _daemon = await converged_binding(world, "partition-gone", 2, multi_cluster=False)

    async with Guard(world, tg.arn, pod_targets(a)).watching():
        _node, registered = await _partitioned(world, a, tg.arn)
        assert await active_targets(world, tg.arn) == registered
    # A pod force-deleted during the partition leaves the slices: its target goes.
    gone, kept = sorted(a.kube.pod_names(NS, APP))
    await a.kube.delete_pod(NS, gone)
    await wait_targets(
        world, tg.arn, {f"{a.kube.pod_ip(NS, kept)}:8080"}, what="deleted pod deregistered"
    )
