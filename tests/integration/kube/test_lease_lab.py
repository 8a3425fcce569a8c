"""Leader election between electors sharing one Lease on the lab API server.

The electors wait in virtual time (:class:`tests.stepping.SteppedClock`) and call the lab for
real, so the Lease's optimistic concurrency is the API server's and every timing bound is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from lbc.kube.client import LEASES, KubeClient
from lbc.kube.lease import ElectionConfig, LeaderElectionLostError, LeaderElector
from tests.stepping import SteppedClock

from lbc_lab.apiserver import LabApiServer

LEASE = 2.0
RENEW = 1.5
RETRY = 0.25


@dataclass
class Electors:
    kube: KubeClient
    clock: SteppedClock = field(default_factory=SteppedClock)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, identity: str, **kw: bool) -> tuple[LeaderElector, asyncio.Task[None]]:
        config = ElectionConfig("lbc-test", "kube-system", identity, LEASE, RENEW, RETRY)
        elector = LeaderElector(self.kube, config, clock=self.clock, **kw)
        task: asyncio.Task[None] = asyncio.create_task(elector.run())
        self.tasks.append(task)
        return elector, task

    async def until(self, done: Callable[[], bool], *, within: float) -> float:
        """Virtual seconds until ``done()``, stepping the electors' clock."""
        return await self.clock.until(done, self.tasks, within=within)


@pytest.fixture
async def electors(kube: KubeClient) -> AsyncIterator[Electors]:
    found = Electors(kube)
    yield found
    for task in found.tasks:
        task.cancel()
    await asyncio.gather(*found.tasks, return_exceptions=True)


async def test_two_electors_give_exactly_one_leader(electors: Electors, kube: KubeClient) -> None:
    a, _ = electors.start("a")
    b, _ = electors.start("b")
    await electors.until(lambda: a.is_leader or b.is_leader, within=0)
    leader, follower = (a, b) if a.is_leader else (b, a)
    # Several lease durations of both campaigning, checked at every step of either: the
    # follower never leads, the leader never stops, and the follower reads the leader's Lease.
    end = electors.clock.now() + 2 * LEASE

    def one_leader_throughout() -> bool:
        assert leader.is_leader
        assert not follower.is_leader
        assert follower.observed_holder in ("", leader.identity)
        return electors.clock.now() >= end

    await electors.until(one_leader_throughout, within=2 * LEASE + RETRY)
    assert follower.observed_holder == leader.identity
    lease = await kube.get(LEASES, "lbc-test", "kube-system")
    assert lease["spec"]["holderIdentity"] == leader.identity
    assert lease["spec"]["leaseTransitions"] == 0, "the Lease changed hands meanwhile"


async def test_a_killed_leader_is_replaced_within_the_lease_duration(electors: Electors) -> None:
    a, task_a = electors.start("a", release_on_cancel=False)
    await electors.until(lambda: a.is_leader, within=0)
    b, _ = electors.start("b")
    await electors.until(lambda: b.observed_holder == "a", within=0)
    task_a.cancel()  # a crash: no release, the Lease still names a
    took = await electors.until(lambda: b.is_leader, within=2 * LEASE)
    # b must wait for the lease to expire since it last saw a renewal (at most one retry
    # period before the kill), and then takes it at its next poll.
    assert LEASE - RETRY <= took <= LEASE + 2.2 * RETRY


async def test_a_graceful_exit_hands_over_within_about_one_retry_period(
    electors: Electors, kube: KubeClient
) -> None:
    a, task_a = electors.start("a")
    await electors.until(lambda: a.is_leader, within=0)
    b, _ = electors.start("b")
    await electors.until(lambda: b.observed_holder == "a", within=0)
    task_a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task_a
    took = await electors.until(lambda: b.is_leader, within=LEASE)
    assert took <= 2.2 * RETRY
    lease = await kube.get(LEASES, "lbc-test", "kube-system")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] >= 1


async def test_a_leader_cut_off_from_the_api_server_loses_leadership(
    electors: Electors, lab_apiserver: LabApiServer
) -> None:
    a, task_a = electors.start("a")
    await electors.until(lambda: a.is_leader, within=0)
    lab_apiserver.faults.fail("*", "leases", code=503, count=1000)
    took = await electors.until(task_a.done, within=LEASE)
    with pytest.raises(LeaderElectionLostError):
        await task_a
    # Lost within the renew deadline after the last renewal, before anyone may take over.
    assert took <= RETRY + RENEW < LEASE
    assert not a.is_leader
