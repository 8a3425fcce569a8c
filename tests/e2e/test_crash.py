"""Crash safety end to end (SPEC §3): SIGKILL at random points of pod churn, then restart.

The daemon is killed 22 times, each time at a random moment shortly after a churn step, so the
kills land in every phase of a reconcile (ledger write-ahead, register, deregister, settle). The
seed is fixed and printed, so a failure can be replayed. The delay before each kill is the
random crash point itself, not a wait for anything.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from lbc_lab.processes import LabProcess
from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import (
    APP,
    NS,
    Guard,
    binding,
    echoserver,
    pod_targets,
    register_foreign,
    wait_targets,
)

pytestmark = pytest.mark.timeout(240)

KILLS = 22
SEED = 20261124


async def _ready(daemon: LabProcess) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

        async def probe() -> bool:
            if daemon.returncode is not None:
                raise RuntimeError(f"{daemon.name} exited early:\n{daemon.tail()}")
            try:
                async with http.get(f"{daemon.extra['probe_url']}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(probe, timeout=30, what=f"{daemon.name} ready", interval=0.05)


async def _churn(cluster: Cluster, rng: random.Random) -> None:
    pods = cluster.kube.pod_names(NS, APP)
    step = rng.choice(["replace", "grow", "shrink"])
    if step == "replace" or (step == "shrink" and len(pods) <= 2):
        await cluster.kube.delete_pod(NS, rng.choice(pods))
        await cluster.kube.scale(NS, APP, len(pods))
    elif step == "grow" and len(pods) < 8:
        await cluster.kube.scale(NS, APP, len(pods) + rng.randint(1, 3))
    else:
        await cluster.kube.scale(NS, APP, len(pods) - 1)


async def test_sigkill_during_churn_leaks_nothing_and_spares_foreign_targets(
    world: World,
) -> None:
    rng = random.Random(SEED)
    print(f"crash test seed {SEED}")
    tg = await world.target_group("crashy", target_type="ip")
    foreign = await register_foreign(world, tg.arn, ["10.0.40.5", "10.0.40.6"])
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    await echoserver(a, 4)
    await a.apply_binding(binding("web", tg.arn))

    async with Guard(world, tg.arn, foreign).watching():
        for _ in range(KILLS):
            daemon = await world.start_daemon(a, env={"LBC_LOG_LEVEL": "info"})
            await _ready(daemon)
            await _churn(a, rng)
            await asyncio.sleep(rng.uniform(0.0, 0.4))  # the random crash point
            daemon.extra["expected_exit"] = True
            daemon.kill()
            await daemon.wait(10)

        await world.start_daemon(a)
        await wait_targets(
            world, tg.arn, pod_targets(a) | foreign, timeout=60, what="converged after crashes"
        )
    ledger = await a.get_configmap(NS, "aws-lbc-targets-web")
    assert ledger is not None
    assert set(ledger["data"]["targets"].split(",")) == pod_targets(a)
