"""Health moves as on ELBv2: initial → healthy, draining → gone, unused when not in use.

The clock is paused (``paused`` fixture) so transitions happen exactly when the test advances it.
Defaults: registration 10 s, then interval 30 s x healthy threshold 5 (or unhealthy threshold 2).
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import BoundTargetGroup, Network, create_target_group
from lbc_lab.scenario import eventually

from .conftest import states

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def one_target(
    elbv2: Any, net: Network, name: str, *, port: int = 80, **attributes: Any
) -> tuple[BoundTargetGroup, tuple[str, int]]:
    """A target group with the first address registered on ``port``: (the group, the target)."""
    tg = await create_target_group(elbv2, net, name, **attributes)
    key = (net.ip(0), port)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": key[0], "Port": port}])
    return tg, key


async def test_new_target_goes_through_registration_and_initial_checks_to_healthy(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg, key = await one_target(elbv2, net, "initial")
    assert (await states(elbv2, tg.arn))[key] == ("initial", "Elb.RegistrationInProgress")
    paused.control.advance(10)
    assert (await states(elbv2, tg.arn))[key] == ("initial", "Elb.InitialHealthChecking")
    paused.control.advance(149)
    assert (await states(elbv2, tg.arn))[key] == ("initial", "Elb.InitialHealthChecking")
    paused.control.advance(1)
    assert (await states(elbv2, tg.arn))[key] == ("healthy", "")


async def test_thresholds_come_from_the_target_group(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(
        elbv2, net, "fast-checks", health_check_interval=10, healthy_threshold=2
    )
    key = (net.ip(0), 80)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": key[0], "Port": 80}])
    paused.control.advance(29)
    assert (await states(elbv2, tg.arn))[key][0] == "initial"
    paused.control.advance(1)
    assert (await states(elbv2, tg.arn))[key][0] == "healthy"


@pytest.mark.parametrize(
    ("configured", "settle"),
    [(60, 200), (None, 0)],
    ids=["the group's delay, from healthy", "the default of 300 seconds, from initial"],
)
async def test_deregistered_target_drains_for_the_delay_then_disappears(
    paused: ElbLab, elbv2: Any, net: Network, configured: int | None, settle: int
) -> None:
    attributes = {} if configured is None else {"deregistration_delay": configured}
    delay = configured or 300
    tg, key = await one_target(elbv2, net, f"drain-{delay}", **attributes)
    paused.control.advance(settle)
    await elbv2.deregister_targets(TargetGroupArn=tg.arn, Targets=[{"Id": key[0], "Port": 80}])
    assert (await states(elbv2, tg.arn))[key] == ("draining", "Target.DeregistrationInProgress")
    paused.control.advance(delay - 1)
    assert (await states(elbv2, tg.arn))[key][0] == "draining"
    paused.control.advance(1)
    assert key not in await states(elbv2, tg.arn)


async def test_reregistering_a_draining_target_starts_it_over(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "again")
    target = {"Id": net.ip(0), "Port": 80}
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[target])
    await elbv2.deregister_targets(TargetGroupArn=tg.arn, Targets=[target])
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[target])
    assert (await states(elbv2, tg.arn))[(net.ip(0), 80)] == (
        "initial",
        "Elb.RegistrationInProgress",
    )


async def test_group_without_load_balancer_reports_not_in_use(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "idle", attach=False)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0), "Port": 80}])
    paused.control.advance(1000)
    assert (await states(elbv2, tg.arn))[(net.ip(0), 80)] == ("unused", "Target.NotInUse")


async def test_failing_health_checks_make_a_new_target_unhealthy(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "failing")
    paused.control.set_health(net.ip(0), "unhealthy")
    paused.control.set_health(net.ip(1), "unhealthy", reason="Target.Timeout")
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(3)]
    )
    # Unhealthy after registration (10 s) + interval 30 s x unhealthy threshold 2.
    paused.control.advance(69)
    assert (await states(elbv2, tg.arn))[(net.ip(0), 80)][0] == "initial"
    paused.control.advance(1)
    seen = await states(elbv2, tg.arn)
    assert seen[(net.ip(0), 80)] == ("unhealthy", "Target.FailedHealthChecks")
    assert seen[(net.ip(1), 80)] == ("unhealthy", "Target.Timeout")
    assert seen[(net.ip(2), 80)][0] == "initial"


async def test_a_healthy_target_turns_unhealthy_after_the_unhealthy_threshold(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg, key = await one_target(elbv2, net, "degrading", port=8080)
    paused.control.advance(160)
    assert paused.control.set_health(key[0], "unhealthy", port=8080) == 1
    paused.control.advance(59)
    assert (await states(elbv2, tg.arn))[key][0] == "healthy"
    paused.control.advance(1)
    assert (await states(elbv2, tg.arn))[key] == ("unhealthy", "Target.FailedHealthChecks")
    paused.control.set_health(key[0], "healthy", port=8080)
    paused.control.advance(150)
    assert (await states(elbv2, tg.arn))[key] == ("healthy", "")


async def test_override_limited_to_a_port_leaves_other_ports_alone(
    paused: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "port-override")
    ip = net.ip(0)
    paused.control.set_health(ip, "unused", port=9090)
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": 8080}, {"Id": ip, "Port": 9090}]
    )
    paused.control.advance(160)
    seen = await states(elbv2, tg.arn)
    assert seen[(ip, 9090)] == ("unused", "Target.InvalidState")
    assert seen[(ip, 8080)] == ("healthy", "")


async def test_time_factor_shortens_real_delays(elb_lab: ElbLab, elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "fast", deregistration_delay=300)
    elb_lab.control.set_clock(time_factor=0.001)  # 160 lab seconds to healthy = 0.16 s
    key = (net.ip(0), 80)
    await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": key[0], "Port": 80}])

    async def healthy() -> bool:
        return (await states(elbv2, tg.arn)).get(key) == ("healthy", "")

    async def gone() -> bool:
        return key not in await states(elbv2, tg.arn)

    # 160 lab seconds to healthy and 300 of draining are 0.16 s and 0.3 s of real time: well
    # within the 10 s that only bound the waits (unscaled, they would be minutes).
    await eventually(healthy, timeout=10, what="healthy within real seconds")
    await elbv2.deregister_targets(TargetGroupArn=tg.arn, Targets=[{"Id": key[0], "Port": 80}])
    await eventually(gone, timeout=10, what="drained within real seconds")
