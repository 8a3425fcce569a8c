"""The client-side rate limit holds its budget, in virtual time."""

from __future__ import annotations

import anyio
from lbc.aws.ratelimit import DESCRIBE, MUTATE, RateLimits, TokenBucket, bucket_for


class VirtualTime:
    """A clock that only moves when a waiter sleeps: sleeping jumps to the wake-up time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await anyio.lowlevel.checkpoint()


async def test_burst_is_free_then_calls_are_spaced_by_the_rate() -> None:
    vt = VirtualTime()
    bucket = TokenBucket(rate=4, burst=3, clock=vt.clock, sleep=vt.sleep)
    waits = [await bucket.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [0.25, 0.25, 0.25, 0.25]
    assert vt.now == 1.0


async def test_grants_never_exceed_burst_plus_rate_times_elapsed() -> None:
    vt = VirtualTime()
    bucket = TokenBucket(rate=10, burst=5, clock=vt.clock, sleep=vt.sleep)
    granted_at: list[float] = []

    async def caller() -> None:
        await bucket.acquire()
        granted_at.append(vt.now)

    async with anyio.create_task_group() as group:
        for _ in range(40):
            group.start_soon(caller)
    assert len(granted_at) == 40
    for t in granted_at:
        assert sum(1 for g in granted_at if g <= t) <= 5 + 10 * t + 1e-9


async def test_idle_time_refills_up_to_burst_only() -> None:
    vt = VirtualTime()
    bucket = TokenBucket(rate=1, burst=2, clock=vt.clock, sleep=vt.sleep)
    await bucket.acquire()
    await bucket.acquire()
    vt.now += 100.0
    assert [await bucket.acquire() for _ in range(3)] == [0.0, 0.0, 1.0]


async def test_waiters_are_served_in_arrival_order() -> None:
    vt = VirtualTime()
    bucket = TokenBucket(rate=1, burst=1, clock=vt.clock, sleep=vt.sleep)
    order: list[int] = []

    async def caller(n: int) -> None:
        await bucket.acquire()
        order.append(n)

    async with anyio.create_task_group() as group:
        for n in range(5):
            group.start_soon(caller, n)
            await anyio.lowlevel.checkpoint()
    assert order == [0, 1, 2, 3, 4]


async def test_mutations_and_describes_spend_from_separate_buckets() -> None:
    assert bucket_for("RegisterTargets") == MUTATE
    assert bucket_for("DeregisterTargets") == MUTATE
    assert bucket_for("DescribeTargetHealth") == DESCRIBE
    vt = VirtualTime()
    limits = RateLimits.per_second(1, 100, clock=vt.clock, sleep=vt.sleep)
    await limits.acquire("RegisterTargets")
    for _ in range(50):
        await limits.acquire("DescribeTargetHealth")
    assert vt.now == 0.0  # the describes did not wait behind the exhausted mutation bucket
    await limits.acquire("RegisterTargets")
    assert vt.now == 1.0
