"""SPEC §3 end to end: a target group shared by two clusters, normal mode, first population."""

from __future__ import annotations

import pytest

from lbc_lab.scenario import World
from tests.e2e.conftest import (
    APP,
    NS,
    POD_CIDR_A,
    Guard,
    active_targets,
    binding,
    echoserver,
    pod_targets,
    register_foreign,
    shared_binding,
    wait_targets,
)

pytestmark = pytest.mark.timeout(120)


async def test_two_clusters_share_a_group_and_never_touch_each_others_targets(
    world: World,
) -> None:
    tg, a, b = await shared_binding(world, "shared", 3)

    b_targets = pod_targets(b)
    async with Guard(world, tg.arn, b_targets).watching():
        await a.kube.rolling_restart(NS, APP)
        await a.kube.scale(NS, APP, 5)
        await a.kube.rolling_restart(NS, APP, surge=2)
        await a.kube.scale(NS, APP, 2)
        await wait_targets(world, tg.arn, pod_targets(a) | b_targets, what="after churn in a")

        a_targets = pod_targets(a)
        await a.delete_binding(NS, "web")
        await wait_targets(world, tg.arn, b_targets, what="a's binding deleted")
    assert not a_targets & await _all(world, tg.arn, "healthy")
    assert await a.get_configmap(NS, "aws-lbc-targets-web") is None
    assert await b.get_configmap(NS, "aws-lbc-targets-web") is not None


async def _all(world: World, arn: str, state: str) -> set[str]:
    return {t for t, (s, _) in (await world.targets(arn)).items() if s == state}


async def test_normal_mode_owns_the_group_and_removes_a_foreign_target(world: World) -> None:
    tg = await world.target_group("owned", target_type="ip")
    foreign = await register_foreign(world, tg.arn, ["10.0.40.5"])
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 2)
    await a.apply_binding(binding("web", tg.arn, multi_cluster=False))
    await world.start_daemon(a)
    await wait_targets(world, tg.arn, pod_targets(a), what="normal mode converged")
    assert not foreign & await active_targets(world, tg.arn)
    assert await a.get_configmap(NS, "aws-lbc-targets-web") is None


async def test_first_multicluster_reconcile_without_a_ledger_deregisters_nothing(
    world: World,
) -> None:
    tg = await world.target_group("first", target_type="ip")
    foreign = await register_foreign(world, tg.arn, ["10.0.40.5", "10.0.40.6"])
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 2)
    await a.apply_binding(binding("web", tg.arn))
    async with Guard(world, tg.arn, foreign).watching():
        await world.start_daemon(a)
        await wait_targets(world, tg.arn, pod_targets(a) | foreign, what="first population")
        ledger = await a.get_configmap(NS, "aws-lbc-targets-web")
        assert ledger is not None
        assert set(ledger["data"]["targets"].split(",")) == pod_targets(a)
        await a.kube.scale(NS, APP, 1)
        await wait_targets(world, tg.arn, pod_targets(a) | foreign, what="after scale-down")
