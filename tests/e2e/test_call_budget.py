"""A binding that cannot converge costs a bounded number of AWS calls, whatever it waits for.

A binding stuck on a terminal outcome (its Service missing) must be looked at about once per
drift period, not in a loop: the ELBv2 call budget is shared by every cluster of the account.
"""

from __future__ import annotations

import anyio
import pytest

from lbc_lab.scenario import World
from tests.e2e.conftest import NS, binding, wait_ready_reason

pytestmark = pytest.mark.timeout(120)

DRIFT_PERIOD = 2.0
PERIODS = 4


async def test_binding_with_a_missing_service_costs_a_few_aws_calls_per_drift_period(
    world: World,
) -> None:
    assert world.control is not None
    tg = await world.target_group("nosvc", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr="10.0.8.0/22")
    await a.kube.ensure_namespace(NS)
    await a.apply_binding(binding("web", tg.arn))  # its Service "echoserver" never exists
    await world.start_daemon(a, env={"LBC_DRIFT_VERIFY_PERIOD": f"{DRIFT_PERIOD}s"})

    await wait_ready_reason(a, "web", "BackendNotFound", timeout=30, world=world)
    mark = world.control.last_seq()
    # The observation window itself: several drift periods of the daemon left alone.
    await anyio.sleep(PERIODS * DRIFT_PERIOD)
    world.check_daemons()
    calls = world.control.calls(since=mark, target_group_arn=tg.arn)
    # One fresh look per period at most (periods are jittered down to half), plus slack for
    # the pass in flight when the window opened.
    budget = 2 * PERIODS + 2
    assert len(calls) <= budget, (
        f"{len(calls)} AWS calls in {PERIODS} drift periods: {sorted({c.operation for c in calls})}"
    )
