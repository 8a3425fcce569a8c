"""A rollout in flight is served once it pauses; a lone change at once (``schedule.Rollouts``).

First the pacing rule alone on a virtual clock, then the binding controller's real reconciler,
triggers, queue and workers on memory I/O (``tests.unit.control.memcluster``): the steps of a
rolling update that arrive while the binding is held join one RegisterTargets and one
DeregisterTargets, a lone change reaches AWS without any time passing, a lone change while
the fleet is busy waits one window and is then served with the steps that followed it, and a
binding whose endpoints never stop changing is still served once per ``SETTLE_LIMIT``.
"""

from __future__ import annotations

import itertools

import pytest
from lbc.clock import VirtualClock
from lbc.control.controller import fleet_busy
from lbc.control.schedule import FLEET_BUSY, SETTLE_LIMIT, SETTLE_WINDOW, Rollouts
from lbc.kube.client import ENDPOINT_SLICES, PODS, TARGET_GROUP_BINDINGS
from lbc.settings import Settings

from tests.unit.control.memcluster import (
    NS,
    Controller,
    MemoryKube,
    binding_object,
    controller,
    endpoint_slice,
    pod,
    workload,
)

KEY = f"{NS}/web"


# -- the rule ------------------------------------------------------------------------------------


async def test_a_lone_change_is_never_held() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock)
    rollouts.changed(KEY)
    assert rollouts.hold(KEY) == 0.0
    await clock.advance(SETTLE_WINDOW)  # a change a whole window later is lone again
    rollouts.changed(KEY)
    assert rollouts.hold(KEY) == 0.0
    assert rollouts.hold("shop/other") == 0.0  # never changed at all


async def test_a_window_of_zero_serves_every_change_at_once() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, window=0)
    for _ in range(5):  # a rollout's steps back to back: none is held
        rollouts.changed(KEY)
        assert rollouts.hold(KEY) == 0.0
        await clock.advance(0.1)


async def test_a_second_change_within_the_window_holds_until_the_changes_pause() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock)
    rollouts.changed(KEY)
    await clock.advance(0.4)
    rollouts.changed(KEY)
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    await clock.advance(0.4)
    rollouts.changed(KEY)  # each step moves the end of the hold
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    await clock.advance(SETTLE_WINDOW)
    assert rollouts.hold(KEY) == 0.0  # the changes paused: served


async def test_one_slow_step_costs_one_early_pass_and_the_rollout_goes_on() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock)
    rollouts.changed(KEY)
    await clock.advance(SETTLE_WINDOW / 2)
    rollouts.changed(KEY)  # a rollout in flight
    await clock.advance(SETTLE_WINDOW)
    assert rollouts.hold(KEY) == 0.0  # a slow step: the pause serves what came so far
    await clock.advance(SETTLE_WINDOW / 2)
    rollouts.changed(KEY)  # 1.5 windows after the last: still the same rollout
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    await clock.advance(2 * SETTLE_WINDOW)
    assert rollouts.hold(KEY) == 0.0
    rollouts.changed(KEY)  # two windows after a rollout's last change: lone again
    assert rollouts.hold(KEY) == 0.0


async def test_changes_that_never_pause_hold_at_most_the_limit_in_a_row() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, window=1.0, limit=4.0)
    started = clock.now()
    served: list[float] = []
    for _ in range(40):  # a change every 0.5 s for 20 s, a pass after each
        rollouts.changed(KEY)
        held = rollouts.hold(KEY)
        assert held <= 4.0
        if held == 0.0:
            served.append(clock.now() - started)
        await clock.advance(0.5)
    assert served[0] == 0.0  # the first change was lone
    gaps = [b - a for a, b in itertools.pairwise(served)]
    assert gaps, "never served again while the changes went on"
    assert max(gaps) <= 4.0 + 0.5  # the limit, plus the wait for the pass after it


def _busy_fleet(rollouts: Rollouts, count: int) -> None:
    for i in range(count):
        rollouts.changed(f"shop/app-{i}")


async def test_in_a_busy_fleet_a_lone_change_waits_out_one_window_and_no_more() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, busy=5)
    _busy_fleet(rollouts, 4)  # Deployments restarted together: with KEY, five changed
    rollouts.changed(KEY)
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    assert rollouts.hold("shop/app-0") == pytest.approx(SETTLE_WINDOW)
    await clock.advance(SETTLE_WINDOW / 2)
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW / 2)
    await clock.advance(SETTLE_WINDOW / 2)
    assert rollouts.hold(KEY) == 0.0  # one window after the change, served
    assert rollouts.hold("shop/never-changed") == 0.0


async def test_a_busy_fleets_lone_change_and_its_next_step_are_served_together() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, busy=5)
    _busy_fleet(rollouts, 4)
    rollouts.changed(KEY)  # the first step of a rollout, fleet-wide
    assert rollouts.hold(KEY) > 0
    await clock.advance(SETTLE_WINDOW / 2)
    rollouts.changed(KEY)  # its second step: the rollout goes on being held
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    await clock.advance(SETTLE_WINDOW)
    assert rollouts.hold(KEY) == 0.0


async def test_fewer_changed_bindings_than_busy_leave_a_lone_change_unheld() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, busy=5)
    _busy_fleet(rollouts, 3)
    rollouts.changed(KEY)  # four bindings changed: the fleet is quiet
    assert rollouts.hold(KEY) == 0.0
    rollouts.changed(KEY)  # the same binding again counts once (and is a rollout by itself)
    assert rollouts.hold(KEY) == pytest.approx(SETTLE_WINDOW)
    assert rollouts.hold("shop/app-0") == 0.0


async def test_the_fleet_is_quiet_again_one_window_after_its_changes() -> None:
    clock = VirtualClock()
    rollouts = Rollouts(clock, busy=5)
    _busy_fleet(rollouts, 10)
    await clock.advance(SETTLE_WINDOW)
    rollouts.changed(KEY)  # the others changed a whole window ago
    assert rollouts.hold(KEY) == 0.0
    rollouts.forget(KEY)
    _busy_fleet(rollouts, 4)  # four changed now, and KEY (forgotten) is no longer counted
    rollouts.changed("shop/other")
    assert rollouts.hold("shop/other") == pytest.approx(SETTLE_WINDOW)


def test_busy_is_what_the_mutating_limit_grants_in_one_window() -> None:
    assert fleet_busy(Settings()) == FLEET_BUSY == 20
    assert fleet_busy(Settings(aws_calls_per_second=5, rollout_settle_window=2.0)) == 10
    assert fleet_busy(Settings(aws_calls_per_second=0.5, rollout_settle_window=0.5)) == 1
    assert fleet_busy(Settings(rollout_settle_window=0)) == 1  # settling off: never asked


def test_a_window_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        Rollouts(VirtualClock(), window=5.0, limit=1.0)
    with pytest.raises(ValueError, match="busy"):
        Rollouts(VirtualClock(), busy=0)


# -- the binding controller ----------------------------------------------------------------------

_new = itertools.count(10)


def _converged(kube: MemoryKube) -> None:
    workload(kube, replicas=4)
    kube.put(TARGET_GROUP_BINDINGS, binding_object())


def _pods(c: Controller) -> dict[str, str]:
    """The pods the Service's slice names, by name: their IPs."""
    endpoints = c.kube.object(ENDPOINT_SLICES, "web-abc")["endpoints"]
    return {e["targetRef"]["name"]: e["addresses"][0] for e in endpoints}


def _step(c: Controller, *, add: int = 0, remove: int = 0) -> None:
    """One step of a rolling update: ``add`` new ready pods, then the slice loses ``remove``."""
    pods = _pods(c)
    for name in sorted(pods)[:remove]:
        del pods[name]
    for _ in range(add):
        n = next(_new)
        name, ip = f"web-new-{n}", f"10.0.{n // 200 + 9}.{n % 200 + 10}"
        c.apply(PODS, pod(name, ip))
        pods[name] = ip
    c.apply(ENDPOINT_SLICES, endpoint_slice("web", pods))


def _registered(c: Controller) -> set[str]:
    return {t.id for t in c.group.targets}


async def _settled(c: Controller) -> None:
    await c.run_for(60.0)
    assert (c.ready() or {}).get("reason") == "TargetsSynced"
    c.group.calls.clear()


async def test_a_lone_slice_change_reaches_aws_without_any_delay() -> None:
    async with controller(prepare=_converged) as c:
        await _settled(c)
        _step(c, add=1)
        await c.clock.settle()  # no virtual time passes
        assert c.group.calls.count("register") == 1
        assert set(_pods(c).values()) == _registered(c)


async def test_steps_arriving_while_held_join_one_register_and_one_deregister() -> None:
    async with controller(prepare=_converged) as c:
        await _settled(c)
        _step(c, add=1)  # the rollout's first step looks like any lone change: served at once
        await c.clock.settle()
        assert c.group.calls.count("register") == 1
        for change in ({"remove": 1}, {"add": 1}, {"remove": 1}, {"add": 2}, {"remove": 2}):
            await c.clock.advance(SETTLE_WINDOW / 2)
            _step(c, **change)
            await c.clock.settle()
        assert c.group.calls.count("register") == 1, "a step was served mid-rollout"
        assert c.group.calls.count("deregister") == 0, "a step was served mid-rollout"
        await c.clock.advance(SETTLE_WINDOW)  # the rollout pauses: every step in one pass
        assert c.group.calls.count("register") == 2
        assert c.group.calls.count("deregister") == 1
        assert set(_pods(c).values()) == _registered(c)


@pytest.mark.parametrize(
    "steps", [({"add": 1},), ({"add": 1}, {"remove": 1})], ids=["lone", "first-of-two"]
)
async def test_in_a_busy_fleet_a_change_waits_one_window_and_its_next_steps_join_it(
    steps: tuple[dict[str, int], ...],
) -> None:
    # busy=1: this binding's own change makes the fleet busy, as 20 Deployments restarted
    # together would at the defaults.
    async with controller(prepare=_converged, settle_busy=1) as c:
        await _settled(c)
        for i, change in enumerate(steps):
            if i:
                await c.clock.advance(SETTLE_WINDOW / 2)
            _step(c, **change)
            await c.clock.settle()
            assert c.group.calls == [], "a busy fleet's change went out at once"
        await c.clock.advance(SETTLE_WINDOW * 0.99)
        assert c.group.calls == []
        await c.clock.advance(SETTLE_WINDOW * 0.02)  # a window after the last step: one pass
        assert c.group.calls.count("register") == 1
        assert c.group.calls.count("deregister") == len(steps) - 1
        assert set(_pods(c).values()) == _registered(c)


async def test_endpoints_that_never_stop_changing_are_served_once_per_limit() -> None:
    async with controller(prepare=_converged) as c:
        await _settled(c)
        seconds = 6 * SETTLE_LIMIT
        for i in range(int(seconds / (SETTLE_WINDOW / 2))):
            _step(c, add=1 - i % 2, remove=i % 2)
            await c.clock.advance(SETTLE_WINDOW / 2)
        passes_with_calls = c.group.calls.count("register")
        await c.clock.advance(SETTLE_WINDOW)
        assert set(_pods(c).values()) == _registered(c)
    # The first change, then one pass per limit: not one per change (120 here), not none.
    assert 6 <= passes_with_calls <= 1 + 6


async def test_deleting_a_binding_mid_rollout_is_not_held() -> None:
    async with controller(prepare=_converged) as c:
        await _settled(c)
        _step(c, add=1)
        await c.clock.advance(SETTLE_WINDOW / 2)
        _step(c, remove=1)  # the binding is held now
        await c.clock.settle()
        obj = c.binding()
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        c.apply(TARGET_GROUP_BINDINGS, obj)
        await c.clock.settle()  # no virtual time passes
        assert f"{NS}/web" not in c.kube.kind(TARGET_GROUP_BINDINGS).objects
        assert _registered(c) == set()
