"""Two replicas with leader election: kill the leader mid-churn, the standby converges."""

from __future__ import annotations

import pytest

from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import APP, NS, binding, echoserver, pod_targets, wait_targets

pytestmark = pytest.mark.timeout(120)

LEASE_ENV = {
    "LBC_LEADER_ELECT": "true",
    "LBC_LEASE_DURATION": "3s",
    "LBC_RENEW_DEADLINE": "2s",
    "LBC_RETRY_PERIOD": "0.5s",
}


async def _holder(cluster: Cluster) -> str | None:
    lease = await cluster.kube.request(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lbc-leader",
        ok=(200, 404),
    )
    if lease is None or lease.get("kind") == "Status":
        return None
    holder = lease.get("spec", {}).get("holderIdentity")
    return str(holder) if holder else None


async def test_killing_the_leader_mid_churn_hands_over_and_converges(world: World) -> None:
    tg = await world.target_group("ha", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr="10.0.8.0/22")
    await echoserver(a, 3)
    await a.apply_binding(binding("web", tg.arn))
    first = await world.start_daemon(a, name="lbc-one", env=LEASE_ENV)
    second = await world.start_daemon(a, name="lbc-two", env=LEASE_ENV)
    await wait_targets(world, tg.arn, pod_targets(a), what="converged under a leader")

    leader_name = await eventually(lambda: _holder(a), timeout=10, what="a lease holder")
    leader, standby = (first, second) if leader_name == first.name else (second, first)
    assert leader.name == leader_name

    await a.kube.rolling_restart(NS, APP)
    leader.extra["expected_exit"] = True
    leader.kill()
    await a.kube.scale(NS, APP, 5)

    async def standby_leads() -> bool:
        return await _holder(a) == standby.name

    await eventually(standby_leads, timeout=15, what="the standby holds the lease")
    await wait_targets(world, tg.arn, pod_targets(a), what="standby converged after failover")
    assert standby.returncode is None
