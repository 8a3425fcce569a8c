"""The client-side rate limit holds its budget, in virtual time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lbc.aws.ratelimit import DESCRIBE, MUTATE, AwsBucket, RateLimits, bucket_for
from lbc.clock import VirtualClock

from tests.unit.aws.timing import drive


async def test_burst_is_free_then_calls_are_spaced_by_the_rate() -> None:
    clock = VirtualClock(start=0.0)
    bucket = AwsBucket(rate=4, burst=3, clock=clock)
    waits: list[float] = []

    async def caller() -> None:
        waits.extend([await bucket.acquire() for _ in range(7)])

    await drive(clock, caller)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [0.25, 0.25, 0.25, 0.25]
    assert clock.now() == 1.0


async def test_grants_never_exceed_burst_plus_rate_times_elapsed() -> None:
    clock = VirtualClock(start=0.0)
    bucket = AwsBucket(rate=10, burst=5, clock=clock)
    granted_at: list[float] = []

    async def caller() -> None:
        await bucket.acquire()
        granted_at.append(clock.now())

    await drive(clock, *([caller] * 40))
    assert len(granted_at) == 40
    for t in granted_at:
        assert sum(1 for g in granted_at if g <= t) <= 5 + 10 * t + 1e-9


async def test_idle_time_refills_up_to_burst_only() -> None:
    clock = VirtualClock(start=0.0)
    bucket = AwsBucket(rate=1, burst=2, clock=clock)
    waits: list[float] = []

    async def caller() -> None:
        await bucket.acquire()
        await bucket.acquire()
        await clock.sleep(100.0)
        waits.extend([await bucket.acquire() for _ in range(3)])

    await drive(clock, caller)
    assert waits == [0.0, 0.0, 1.0]


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = VirtualClock(start=0.0)
    bucket = AwsBucket(rate=1, burst=1, clock=clock)
    order: list[int] = []

    def caller(n: int) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            await bucket.acquire()
            order.append(n)

        return call

    await drive(clock, *(caller(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_mutations_and_describes_spend_from_separate_buckets() -> None:
    assert bucket_for("RegisterTargets") == MUTATE
    assert bucket_for("DeregisterTargets") == MUTATE
    assert bucket_for("DescribeTargetHealth") == DESCRIBE
    clock = VirtualClock(start=0.0)
    limits = RateLimits.per_second(1, 100, clock=clock)
    seen: list[float] = []

    async def caller() -> None:
        await limits.acquire("RegisterTargets")
        for _ in range(50):
            await limits.acquire("DescribeTargetHealth")
        seen.append(clock.now())  # the describes did not wait behind the exhausted mutations
        await limits.acquire("RegisterTargets")
        seen.append(clock.now())

    await drive(clock, caller)
    assert seen == [0.0, 1.0]
