"""What goes wrong, end to end: corrupt ledger, vanished target group, throttling, drift."""

from __future__ import annotations

import aiohttp
import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import (
    APP,
    NS,
    Guard,
    converged_binding,
    pod_targets,
    wait_binding_gone,
    wait_refused,
    wait_targets,
)

pytestmark = pytest.mark.timeout(120)


async def test_corrupt_ledger_warns_sets_ready_false_and_deregisters_nothing(
    world: World,
) -> None:
    tg, a, _daemon = await converged_binding(world, "corrupt", 3)

    registered = pod_targets(a)
    ledger = await a.get_configmap(NS, "aws-lbc-targets-web")
    assert ledger is not None
    ledger["data"]["targets"] += ",not a target"
    await a.kube.request("PUT", f"/api/v1/namespaces/{NS}/configmaps/aws-lbc-targets-web", ledger)
    async with Guard(world, tg.arn, registered).watching():
        await a.kube.scale(NS, APP, 1)  # two targets are no longer desired...

        await wait_refused(a, "web", "LedgerCorrupt", timeout=20, message="not a target")
        # ...yet the corrupt ledger keeps all three registered, through a drift pass too.
        await eventually(
            lambda: _drift_passes(world, tg.arn, 2), timeout=30, what="two more describes"
        )


async def _drift_passes(world: World, arn: str, count: int) -> bool:
    assert world.control is not None
    return len(world.control.calls("DescribeTargetHealth", target_group_arn=arn)) >= count + 3


async def test_target_group_deleted_out_of_band_is_reported_and_deletion_still_completes(
    world: World,
) -> None:
    tg, a, _daemon = await converged_binding(world, "vanishing", 2)

    assert tg.listener_arn is not None
    await world.elbv2.delete_listener(ListenerArn=tg.listener_arn)
    await world.elbv2.delete_target_group(TargetGroupArn=tg.arn)
    await a.kube.scale(NS, APP, 3)  # a change, so the next pass must talk to AWS

    await wait_refused(a, "web", "TargetGroupNotFound", timeout=20)

    await a.delete_binding(NS, "web")

    await wait_binding_gone(a, "web", what="binding deleted despite the missing group")
    assert await a.get_configmap(NS, "aws-lbc-targets-web") is None


async def test_thirty_percent_throttling_still_converges_and_counts_throttles(
    world: World,
) -> None:
    assert world.control is not None
    world.control.throttle("*", fraction=0.3, service="elbv2")
    tg, a, daemon = await converged_binding(world, "throttled", 4)
    # The 30 % may all fall on the test's own describes; one RegisterTargets throttle more is
    # the daemon's for sure (only the daemon registers targets here), so it must be counted.
    world.control.throttle("RegisterTargets", count=1, service="elbv2")
    await a.kube.rolling_restart(NS, APP)
    await wait_targets(world, tg.arn, pod_targets(a), what="churn under throttling")
    throttled = [c for c in world.control.calls() if c.outcome == "Throttling"]
    assert any(c.operation == "RegisterTargets" for c in throttled), "the daemon met no throttle"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{daemon.extra['metrics_url']}/metrics") as resp,
    ):
        text = await resp.text()
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lbc_aws_throttles_total{")
    )
    assert counted >= 1


async def test_target_removed_out_of_band_is_registered_again_within_the_drift_period(
    world: World,
) -> None:
    tg, a, _daemon = await converged_binding(
        world, "drift", 3, env={"LBC_DRIFT_VERIFY_PERIOD": "4s"}
    )

    victim = sorted(pod_targets(a))[0]
    ip, port = victim.rsplit(":", 1)
    await world.elbv2.deregister_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": int(port)}]
    )
    # Nothing changes in the cluster: only the drift verification can notice.
    await wait_targets(world, tg.arn, pod_targets(a), timeout=10, what="drift repaired")
