"""Leader election rules in virtual time against an in-memory Lease with optimistic concurrency."""

from __future__ import annotations

import asyncio
import copy
import random
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from lbc.core.errors import ConflictError, NotFoundError, TransientError
from lbc.kube.client import KubeClient, Resource
from lbc.kube.lease import ElectionConfig, LeaderElectionLostError, LeaderElector
from lbc.observe.metrics import REGISTRY
from tests.stepping import SteppedClock


class FakeLeases:
    """One namespace of Leases with resourceVersion checks, and switches to fail calls."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.rv = 0
        self.failing = False
        self.writes: list[dict[str, Any]] = []

    def _check(self) -> None:
        if self.failing:
            raise TransientError("apiserver unavailable")

    async def get(self, resource: Resource, name: str, namespace: str, **_kw: Any):
        self._check()
        if name not in self.leases:
            raise NotFoundError(name)
        return copy.deepcopy(self.leases[name])

    async def create(self, resource: Resource, obj: dict[str, Any], namespace: str, **_kw: Any):
        self._check()
        name = obj["metadata"]["name"]
        if name in self.leases:
            raise ConflictError("exists")
        return self._store(name, obj)

    async def replace(self, resource: Resource, obj: dict[str, Any], namespace: str, **_kw: Any):
        self._check()
        name = obj["metadata"]["name"]
        current = self.leases[name]
        if obj["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise ConflictError("stale")
        return self._store(name, obj)

    def _store(self, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Keep ``obj`` at a new resourceVersion and log the write, as the API server would."""
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.leases[name] = stored
        self.writes.append(stored["spec"])
        return copy.deepcopy(stored)

    def hold(self, holder: str, renew_time: str, duration: int = 15) -> None:
        self.rv += 1
        self.leases["lbc"] = {
            "metadata": {
                "name": "lbc",
                "namespace": "kube-system",
                "resourceVersion": str(self.rv),
            },
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration,
                "acquireTime": renew_time,
                "renewTime": renew_time,
                "leaseTransitions": 3,
            },
        }


CONFIG = ElectionConfig("lbc", "kube-system", "me", 15.0, 10.0, 2.0)


def elector(leases: FakeLeases, clock: SteppedClock, **kw: Any) -> LeaderElector:
    return LeaderElector(
        cast(KubeClient, leases),
        kw.pop("config", CONFIG),
        clock=clock,
        wall=lambda: datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        rng=random.Random(3),
        **kw,
    )


async def leading(
    e: LeaderElector, clock: SteppedClock, *, within: float = CONFIG.lease_duration + 5.0
) -> asyncio.Task[None]:
    """``e`` running in a task, once it leads (at most ``within`` virtual seconds later)."""
    task = asyncio.create_task(e.run())
    await clock.until(lambda: e.is_leader, [task], within=within)
    return task


async def cancelled(task: asyncio.Task[None]) -> None:
    """Cancel the elector's task; it must end by that cancellation, not by failing."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def master_status() -> float | None:
    return REGISTRY.get_sample_value("leader_election_master_status", {"name": "lbc"})


async def test_a_missing_lease_is_created_and_held():
    leases, clock = FakeLeases(), SteppedClock()
    started: list[bool] = []
    e = elector(leases, clock, on_started_leading=lambda: started.append(True))
    task = await leading(e, clock)
    assert started == [True]
    assert master_status() == 1
    spec = leases.leases["lbc"]["spec"]
    assert spec["holderIdentity"] == "me"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == "2026-11-24T12:00:00.000000Z"
    await cancelled(task)


async def test_a_lease_renewed_by_its_holder_is_never_taken():
    leases, clock = FakeLeases(), SteppedClock()
    leases.hold("other", "2020-01-01T00:00:00.000000Z")
    e = elector(leases, clock)
    task = asyncio.create_task(e.run())
    for i in range(60):  # two simulated minutes of the other holder renewing
        leases.hold("other", f"2026-11-24T12:00:{i:02d}.000000Z")
        await clock.virtual.advance(2.0)
    assert not e.is_leader
    assert leases.leases["lbc"]["spec"]["holderIdentity"] == "other"
    await cancelled(task)


async def test_expiry_is_judged_on_the_local_clock_not_the_remote_renew_time():
    leases, clock = FakeLeases(), SteppedClock()
    # The holder's clock is far ahead: its renewTime is in our future. It has stopped renewing,
    # so 15 local seconds after we first saw this record, the lease is ours.
    leases.hold("other", "2099-01-01T00:00:00.000000Z")
    e = elector(leases, clock)
    seen_at = clock.now()
    task = await leading(e, clock)
    assert clock.now() - seen_at >= 15.0
    assert clock.now() - seen_at <= 15.0 + 2.2 * CONFIG.retry_period
    spec = leases.leases["lbc"]["spec"]
    assert spec["holderIdentity"] == "me"
    assert spec["leaseTransitions"] == 4
    await cancelled(task)


async def test_failing_renewals_lose_leadership_after_the_renew_deadline():
    leases, clock = FakeLeases(), SteppedClock()
    stopped: list[bool] = []
    e = elector(leases, clock, on_stopped_leading=lambda: stopped.append(True))
    task = await leading(e, clock)
    leases.failing = True
    took = await clock.until(task.done, [task], within=CONFIG.lease_duration)
    with pytest.raises(LeaderElectionLostError):
        await task
    assert CONFIG.renew_deadline <= took <= CONFIG.renew_deadline + CONFIG.retry_period
    assert took < CONFIG.lease_duration
    assert stopped == [True]
    assert not e.is_leader
    assert master_status() == 0


async def test_another_holder_in_the_lease_ends_leadership_at_once():
    leases, clock = FakeLeases(), SteppedClock()
    e = elector(leases, clock)
    task = await leading(e, clock)
    leases.hold("usurper", "2026-11-24T12:00:00.000000Z")
    took = await clock.until(task.done, [task], within=CONFIG.lease_duration)
    assert took <= CONFIG.retry_period, "not at the next renewal"
    with pytest.raises(LeaderElectionLostError, match="usurper"):
        await task


async def test_cancellation_releases_the_lease_for_a_fast_handover():
    leases, clock = FakeLeases(), SteppedClock()
    e = elector(leases, clock)
    task = await leading(e, clock)
    await cancelled(task)
    spec = leases.leases["lbc"]["spec"]
    assert spec.get("holderIdentity") in (None, "")
    assert spec["leaseDurationSeconds"] == 1
    assert master_status() == 0


async def test_a_crashed_leader_leaves_the_lease_held():
    leases, clock = FakeLeases(), SteppedClock()
    e = elector(leases, clock, release_on_cancel=False)
    task = await leading(e, clock)
    await cancelled(task)
    assert leases.leases["lbc"]["spec"]["holderIdentity"] == "me"


async def test_renewals_keep_acquire_time_and_transitions():
    leases, clock = FakeLeases(), SteppedClock()
    e = elector(leases, clock)
    task = await leading(e, clock)
    await clock.until(lambda: len(leases.writes) >= 4, [task], within=4 * CONFIG.retry_period)
    await cancelled(task)
    renewals = leases.writes[1:3]
    assert all(w["holderIdentity"] == "me" for w in renewals)
    assert {w["leaseTransitions"] for w in renewals} == {leases.writes[0]["leaseTransitions"]}
    assert e.healthy()


def test_timings_are_validated_like_client_go():
    with pytest.raises(ValueError, match="lease_duration"):
        ElectionConfig("l", "ns", "me", 10.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="renew_deadline"):
        ElectionConfig("l", "ns", "me", 15.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="identity"):
        ElectionConfig("l", "ns", "", 15.0, 10.0, 2.0)
