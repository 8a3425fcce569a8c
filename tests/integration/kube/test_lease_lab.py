"""Leader election between electors sharing one Lease on the lab API server (short timings)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from lbc.kube.client import LEASES, KubeClient
from lbc.kube.lease import ElectionConfig, LeaderElectionLostError, LeaderElector

from lbc_lab.apiserver import LabApiServer

LEASE = 2.0
RENEW = 1.5
RETRY = 0.25


def config(identity: str) -> ElectionConfig:
    return ElectionConfig("lbc-test", "kube-system", identity, LEASE, RENEW, RETRY)


@pytest.fixture
async def electors(
    kube: KubeClient,
) -> AsyncIterator[Callable[..., tuple[LeaderElector, asyncio.Task[None]]]]:
    tasks: list[asyncio.Task[None]] = []

    def make(identity: str, **kw: bool) -> tuple[LeaderElector, asyncio.Task[None]]:
        elector = LeaderElector(kube, config(identity), **kw)
        task: asyncio.Task[None] = asyncio.create_task(elector.run())
        tasks.append(task)
        return elector, task

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def first_leader(*candidates: LeaderElector, timeout: float = 5.0) -> LeaderElector:
    waits = {asyncio.create_task(c.wait_leading()): c for c in candidates}
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done, "nobody became leader"
    return waits[next(iter(done))]


async def observed_by(elector: LeaderElector, holder: str) -> None:
    async with asyncio.timeout(5):
        # The elector's view of the Lease has no event to wait on; poll it under a deadline.
        while elector.observed_holder != holder:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_two_electors_give_exactly_one_leader(electors, kube: KubeClient) -> None:
    a, _ = electors("a")
    b, _ = electors("b")
    leader = await first_leader(a, b)
    follower = b if leader is a else a
    # Several lease durations of both campaigning: the follower never leads, the leader never
    # stops, and the Lease names the leader throughout.
    deadline = time.monotonic() + 2 * LEASE
    while time.monotonic() < deadline:
        assert leader.is_leader
        assert not follower.is_leader
        lease = await kube.get(LEASES, "lbc-test", "kube-system")
        assert lease["spec"]["holderIdentity"] == leader.identity
        await asyncio.sleep(RETRY)
    assert follower.observed_holder == leader.identity


async def test_a_killed_leader_is_replaced_within_the_lease_duration(electors) -> None:
    a, task_a = electors("a", release_on_cancel=False)
    await first_leader(a)
    b, _ = electors("b")
    await observed_by(b, "a")
    assert not b.is_leader
    task_a.cancel()  # a crash: no release, the Lease still names a
    killed = time.monotonic()
    await first_leader(b, timeout=LEASE + 3)
    took = time.monotonic() - killed
    # b must wait for the lease to expire since it last saw a renewal (at most one retry
    # period before the kill), and then takes it at its next poll.
    assert LEASE - RETRY - 0.1 <= took <= LEASE + 2.2 * RETRY + 0.5


async def test_a_graceful_exit_hands_over_within_about_one_retry_period(
    electors, kube: KubeClient
) -> None:
    a, task_a = electors("a")
    await first_leader(a)
    b, _ = electors("b")
    await observed_by(b, "a")
    task_a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task_a
    released = time.monotonic()
    await first_leader(b, timeout=LEASE)
    assert time.monotonic() - released <= 2.2 * RETRY + 0.3
    lease = await kube.get(LEASES, "lbc-test", "kube-system")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] >= 1


async def test_a_leader_cut_off_from_the_api_server_loses_leadership(
    electors, lab_apiserver: LabApiServer
) -> None:
    a, task_a = electors("a")
    await first_leader(a)
    lab_apiserver.faults.fail("*", "leases", code=503, count=1000)
    cut = time.monotonic()
    with pytest.raises(LeaderElectionLostError):
        await asyncio.wait_for(task_a, RENEW + 2)
    assert time.monotonic() - cut < LEASE + RETRY
    assert not a.is_leader
