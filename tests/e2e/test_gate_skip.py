"""The readiness-gate skip rule, measured: a gated pod without its condition must not stay unready.

LBC skips a reconcile whose checkpoint matches unless a desired pod carries the gate's
condition with a status other than True; a gated pod with *no* condition does not block the
skip. lbc blocks the skip for it too. This test builds that state on the lab (a converged
binding, then one pod's condition removed, as a status rewrite by another writer does: its
checkpoint inputs do not change) and measures what each rule costs and gives:

- lbc's rule: the pod's condition is written again on the next pass, the pod turns Ready; the
  cost is the pass's DescribeTargetHealth calls (printed with ``-s``).
- LBC's rule would skip every such pass (the inputs hash the same), so nothing writes the
  condition until a full pass is forced: the drift verification here (set to 10 minutes, far
  beyond this test), 30-45 minutes after a restart and then every 10 hours in LBC.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import APP, NS, binding, echoserver, pod_targets, wait_targets

pytestmark = pytest.mark.timeout(120)

GATE = "target-health.elbv2.k8s.aws/web"


async def _pod(cluster: Cluster, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await cluster.kube.request(
        "GET", f"/api/v1/namespaces/{NS}/pods/{name}"
    )
    return found


async def _conditions(cluster: Cluster, name: str) -> dict[str, str]:
    pod = await _pod(cluster, name)
    return {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}


async def test_gated_pod_whose_condition_vanished_gets_it_back_without_a_forced_pass(
    world: World,
) -> None:
    assert world.control is not None
    control = world.control
    tg = await world.target_group("gate-skip", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr="10.0.8.0/22")
    await echoserver(a, 3, gates=(GATE,))
    await a.apply_binding(binding("web", tg.arn))
    await world.start_daemon(
        a, env={"LBC_REQUEUE_PERIOD": "0.5s", "LBC_DRIFT_VERIFY_PERIOD": "600s"}
    )
    await wait_targets(world, tg.arn, pod_targets(a), what="gated pods registered")
    pods = a.kube.pod_names(NS, APP)

    async def converged() -> bool:
        await a.kube.kubelet_pass(NS)
        ready = [await _conditions(a, p) for p in pods]
        found = await a.get_binding(NS, "web")
        checkpoint = ((found or {}).get("metadata", {}).get("annotations") or {}).get(
            "elbv2.k8s.aws/checkpoint"
        )
        return bool(checkpoint) and all(
            c.get(GATE) == "True" and c["Ready"] == "True" for c in ready
        )

    await eventually(converged, timeout=40, what="gates True, pods Ready, checkpoint written")

    victim = pods[0]
    pod = await _pod(a, victim)
    index = next(i for i, c in enumerate(pod["status"]["conditions"]) if c["type"] == GATE)
    describes = len(control.calls("DescribeTargetHealth", target_group_arn=tg.arn))
    await a.kube.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/pods/{victim}/status",
        [{"op": "remove", "path": f"/status/conditions/{index}"}],
        content_type="application/json-patch+json",
    )
    await a.kube.kubelet_pass(NS)  # the pod is not Ready any more: its gate has no condition
    assert (await _conditions(a, victim))["Ready"] == "False"

    async def restored() -> bool:
        world.check_daemons()
        await a.kube.kubelet_pass(NS)
        conditions = await _conditions(a, victim)
        return conditions.get(GATE) == "True" and conditions["Ready"] == "True"

    # LBC's rule waits for the next forced pass (600 s here): the deadline of 30 s fails it.
    await eventually(restored, timeout=30, what="the condition written again, the pod Ready")
    spent = len(control.calls("DescribeTargetHealth", target_group_arn=tg.arn)) - describes
    print(f"\ngate condition removed -> pod Ready again: {spent} DescribeTargetHealth call(s)")
    assert spent <= 3
