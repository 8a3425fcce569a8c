"""Pod readiness gates end to end (SPEC §6): True only once the target is healthy in the lab."""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import APP, NS, binding, echoserver, pod_targets, wait_targets

pytestmark = pytest.mark.timeout(120)

GATE = "target-health.elbv2.k8s.aws/web"


async def _gate(world_cluster: Any, pod: str) -> dict[str, Any] | None:
    obj = await world_cluster.kube.request("GET", f"/api/v1/namespaces/{NS}/pods/{pod}")
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == GATE:
            return dict(cond)
    return None


async def test_readiness_gates_turn_true_only_when_the_target_is_healthy(world: World) -> None:
    assert world.control is not None
    tg = await world.target_group("gated", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr="10.0.8.0/22")
    await echoserver(a, 3, gates=(GATE,))
    pods = a.kube.pod_names(NS, APP)
    held = pods[0]
    held_ip = a.kube.pod_ip(NS, held)
    # The lab's health checks will fail for one pod until the test lets them pass.
    world.control.set_health(held_ip, "unhealthy", reason="Target.FailedHealthChecks")

    await a.apply_binding(binding("web", tg.arn))
    await world.start_daemon(a, env={"LBC_REQUEUE_PERIOD": "0.5s"})
    # Not-ready pods whose containers are ready are registered: that is what gates are for.
    await wait_targets(world, tg.arn, pod_targets(a), what="gated pods registered")

    seen_true: set[str] = set()

    async def gates_settled() -> bool:
        health = await world.targets(tg.arn)
        for pod in pods:
            cond = await _gate(a, pod)
            if cond is not None and cond["status"] == "True":
                state = health.get(f"{a.kube.pod_ip(NS, pod)}:8080", ("absent", ""))[0]
                if pod not in seen_true:
                    # lbc wrote True, so the lab must already have called the target healthy;
                    # health was read just before, and healthy targets stay healthy here.
                    fresh = (await world.targets(tg.arn)).get(
                        f"{a.kube.pod_ip(NS, pod)}:8080", ("absent", "")
                    )[0]
                    assert "healthy" in (state, fresh), f"{pod} gate True while {state}"
                seen_true.add(pod)
        return seen_true == set(pods[1:])

    await eventually(gates_settled, timeout=30, what="healthy pods' gates True")
    cond = await _gate(a, held)
    assert cond is not None
    assert cond["status"] == "False"
    assert cond["reason"] == "Target.FailedHealthChecks"

    world.control.set_health(held_ip, "healthy")

    async def held_true() -> bool:
        found = await _gate(a, held)
        return found is not None and found["status"] == "True"

    await eventually(held_true, timeout=30, what="the held pod's gate True once healthy")
    # The kubelet folds the gates into Ready; the endpoints then turn ready.
    await a.kube.kubelet_pass(NS)
    pod = await a.kube.request("GET", f"/api/v1/namespaces/{NS}/pods/{held}")
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"
