"""The lab keeps up with lbc's scale: 1,000 targets registered and described in under a second."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_target_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_registering_and_describing_1000_targets_takes_under_a_second(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "thousand")
    targets = [{"Id": net.ip(n), "Port": 8080} for n in range(1000)]
    started = time.perf_counter()
    for i in range(0, len(targets), 200):  # lbc's batch size
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=targets[i : i + 200])
    answer = await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    elapsed = time.perf_counter() - started
    assert len(answer["TargetHealthDescriptions"]) == 1000
    assert elapsed < 1.0, f"took {elapsed:.3f}s"
    assert elb_lab.control.count("RegisterTargets", outcome="ok") == 5
