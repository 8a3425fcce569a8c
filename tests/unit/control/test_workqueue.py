"""The work queue keeps client-go's guarantees; every timing test runs in virtual time."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from hypothesis import given, strategies as st
from lbc.clock import VirtualClock
from lbc.control.workqueue import (
    BucketRateLimiter,
    ItemExponentialBackoff,
    MaxOf,
    QueueShutDown,
    WorkQueue,
)
from lbc.observe.metrics import REGISTRY

_names = itertools.count()


def fresh_name() -> str:
    return f"q{next(_names)}"


@asynccontextmanager
async def running(queue: WorkQueue[str]) -> AsyncIterator[None]:
    """Run the queue's delay loop for the duration of the block."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.run)
        yield
        queue.shut_down()


def sample(metric: str, queue: WorkQueue[str]) -> float:
    value = REGISTRY.get_sample_value(metric, {"name": queue.name, "controller": queue.controller})
    assert value is not None, metric
    return value


async def test_key_added_many_times_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    for _ in range(5):
        queue.add("ns/a")
    queue.add("ns/b")
    assert len(queue) == 2
    assert await queue.get() == "ns/a"
    assert await queue.get() == "ns/b"
    assert len(queue) == 0


async def test_key_in_flight_is_not_handed_to_a_second_worker() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    queue.add("ns/a")
    first = await queue.get()
    queue.add("ns/a")  # changed while a worker holds it
    got: list[str] = []

    async def second_worker() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(second_worker)
        await clock.settle()
        assert got == [], "a key in flight was handed out twice"
        queue.done(first)
        await clock.settle()
        assert got == ["ns/a"], "the add made during processing was lost"


async def test_key_not_re_added_during_processing_is_not_replayed() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    queue.add("ns/a")
    key = await queue.get()
    queue.done(key)
    assert len(queue) == 0
    assert queue.in_flight == 0


async def test_keys_come_out_in_fifo_order() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    for key in ("c", "a", "b"):
        queue.add(key)
    assert [await queue.get() for _ in range(3)] == ["c", "a", "b"]


async def test_delayed_key_arrives_at_its_deadline_and_not_before() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    async with running(queue):
        queue.add_after("ns/a", 5.0)
        await clock.advance(4.999)
        assert len(queue) == 0
        assert queue.waiting == 1
        await clock.advance(0.001)
        assert len(queue) == 1
        assert queue.waiting == 0


async def test_delayed_add_keeps_the_earliest_deadline() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    async with running(queue):
        queue.add_after("ns/a", 10.0)
        queue.add_after("ns/a", 3.0)  # earlier: replaces
        queue.add_after("ns/a", 7.0)  # later: ignored
        await clock.advance(3.0)
        assert len(queue) == 1
        key = await queue.get()
        queue.done(key)
        await clock.advance(20.0)
        assert len(queue) == 0, "a superseded deadline fired a second time"


async def test_add_after_without_delay_is_an_immediate_add() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    queue.add_after("ns/a", 0.0)
    queue.add_after("ns/b", -1.0)
    assert len(queue) == 2


async def test_delayed_key_that_is_already_queued_is_not_duplicated() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    async with running(queue):
        queue.add("ns/a")
        queue.add_after("ns/a", 1.0)
        await clock.advance(1.0)
        assert len(queue) == 1


def test_backoff_doubles_from_base_to_the_cap() -> None:
    limiter: ItemExponentialBackoff[str] = ItemExponentialBackoff(base=0.005, cap=1000.0)
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[9] == pytest.approx(2.56)
    assert delays[18] == 1000.0
    assert delays[19] == 1000.0
    assert limiter.num_requeues("k") == 20
    assert limiter.when("other") == 0.005, "backoff leaked across keys"


def test_backoff_survives_a_huge_failure_count() -> None:
    limiter: ItemExponentialBackoff[str] = ItemExponentialBackoff(base=0.005, cap=300.0)
    for _ in range(2000):
        delay = limiter.when("k")
    assert delay == 300.0


def test_forget_resets_the_backoff() -> None:
    limiter: ItemExponentialBackoff[str] = ItemExponentialBackoff(base=0.005, cap=1.0)
    for _ in range(5):
        limiter.when("k")
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0
    assert limiter.when("k") == 0.005


async def test_rate_limited_key_waits_its_backoff_and_forget_resets_it() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(
        fresh_name(), clock=clock, rate_limiter=ItemExponentialBackoff(base=1.0, cap=8.0)
    )
    async with running(queue):
        expected = [1.0, 2.0, 4.0, 8.0, 8.0]
        for delay in expected:
            queue.add_rate_limited("k")
            await clock.advance(delay - 0.01)
            assert len(queue) == 0, f"arrived before its {delay}s backoff"
            await clock.advance(0.01)
            assert len(queue) == 1
            queue.done(await queue.get())
        assert queue.num_requeues("k") == 5
        queue.forget("k")
        queue.add_rate_limited("k")
        await clock.advance(1.0)
        assert len(queue) == 1


async def test_shutdown_refuses_adds_but_hands_out_what_is_queued() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    queue.add("ns/a")
    queue.shut_down()
    queue.add("ns/b")
    queue.add_after("ns/c", 0.0)
    assert await queue.get() == "ns/a"
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_wakes_blocked_getters() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    outcomes: list[str] = []

    async def getter() -> None:
        try:
            await queue.get()
        except QueueShutDown:
            outcomes.append("shut down")

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(getter)
        await clock.settle()
        queue.shut_down()
    assert outcomes == ["shut down"] * 3


async def test_shutdown_drops_keys_still_waiting_on_a_delay() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.run)
        queue.add_after("ns/a", 1.0)
        await clock.settle()
        queue.shut_down()
        await clock.advance(2.0)
    assert len(queue) == 0


async def test_drain_waits_for_keys_in_flight() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=clock)
    queue.add("ns/a")
    queue.add("ns/b")
    a = await queue.get()
    b = await queue.get()
    drained = anyio.Event()

    async def drain() -> None:
        await queue.shut_down_with_drain()
        drained.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await clock.settle()
        queue.done(a)
        await clock.settle()
        assert not drained.is_set(), "drain returned with a key still in flight"
        queue.done(b)
    assert drained.is_set()


async def test_metrics_follow_adds_gets_retries_and_work() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(fresh_name(), controller="tgb", clock=clock)
    async with running(queue):
        queue.add("ns/a")
        queue.add("ns/a")
        queue.add("ns/b")
        assert sample("workqueue_adds_total", queue) == 2
        assert sample("workqueue_depth", queue) == 2
        await clock.advance(2.0)
        key = await queue.get()
        assert sample("workqueue_depth", queue) == 1
        assert sample("workqueue_queue_duration_seconds_sum", queue) == pytest.approx(2.0)
        await clock.advance(3.0)
        assert sample("workqueue_unfinished_work_seconds", queue) == pytest.approx(3.0)
        assert sample("workqueue_longest_running_processor_seconds", queue) == pytest.approx(3.0)
        queue.done(key)
        assert sample("workqueue_work_duration_seconds_sum", queue) == pytest.approx(3.0)
        assert sample("workqueue_unfinished_work_seconds", queue) == 0
        queue.add_rate_limited("ns/c")
        queue.add_after("ns/d", 1.0)
        assert sample("workqueue_retries_total", queue) == 2


async def test_token_bucket_allows_a_burst_then_spaces_calls_at_its_rate() -> None:
    clock = VirtualClock()
    bucket: BucketRateLimiter[str] = BucketRateLimiter(qps=10.0, burst=3, clock=clock)
    assert [bucket.when("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when("k") == pytest.approx(0.1)
    assert bucket.when("k") == pytest.approx(0.2)
    await clock.advance(10.0)
    assert bucket.when("k") == 0.0, "the bucket did not refill"


async def test_max_of_limiters_takes_the_longest_delay() -> None:
    clock = VirtualClock()
    limiter: MaxOf[str] = MaxOf(
        [
            ItemExponentialBackoff(base=0.005, cap=10.0),
            BucketRateLimiter(qps=1.0, burst=1, clock=clock),
        ]
    )
    assert limiter.when("a") == 0.005
    assert limiter.when("b") == pytest.approx(1.0)  # the bucket is empty now
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


_ops = st.lists(
    st.tuples(st.sampled_from(["add", "add_low", "get", "done"]), st.sampled_from(["a", "b", "c"])),
    max_size=60,
)


@given(ops=_ops)
def test_invariants_hold_under_any_sequence_of_operations(ops: list[tuple[str, str]]) -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue("property", clock=VirtualClock())
        held: set[str] = set()
        wanted: set[str] = set()  # keys added and not yet handed out since
        for op, key in ops:
            if op in ("add", "add_low"):
                queue.add(key, low_priority=op == "add_low")
                wanted.add(key)
            elif op == "get" and len(queue):
                first_normal = queue._queue[0] if queue._queue else None
                got = await queue.get()
                assert got not in held, "handed out a key already in flight"
                if first_normal is not None:
                    assert got == first_normal, "a low-priority key jumped a normal one"
                held.add(got)
                wanted.discard(got)
            elif op == "done" and key in held:
                queue.done(key)
                held.discard(key)
            # The invariants are about internal state.
            queued = [*queue._queue, *queue._low]
            assert len(queued) == len(set(queued)), "a key is queued twice"
            assert not set(queued) & held, "a key in flight is also queued"
            assert set(queue._low) <= queue._low_keys, "a promoted key stayed behind"
        # Every key that was added and not handed out since is still owed to a worker.
        for key in held:
            queue.done(key)
        remaining = set()
        while len(queue):
            remaining.add(await queue.get())
        assert remaining == wanted

    anyio.run(scenario)


async def test_low_priority_keys_wait_behind_normal_ones() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    for key in ("ns/old-1", "ns/old-2", "ns/old-3"):
        queue.add(key, low_priority=True)
    queue.add("ns/fresh")
    queue.add("ns/old-3")  # a live event for a key waiting at low priority promotes it
    order = [await queue.get() for _ in range(4)]
    assert order == ["ns/fresh", "ns/old-3", "ns/old-1", "ns/old-2"]


async def test_a_low_priority_add_never_demotes_a_queued_key() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    queue.add("ns/other", low_priority=True)
    queue.add("ns/a")
    queue.add("ns/a", low_priority=True)
    assert await queue.get() == "ns/a"


async def test_key_re_added_in_flight_is_replayed_at_its_priority() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name(), clock=VirtualClock())
    queue.add("ns/a")
    key = await queue.get()
    queue.add("ns/a", low_priority=True)
    queue.add("ns/b", low_priority=True)
    queue.add("ns/c")
    queue.done(key)
    assert [await queue.get() for _ in range(3)] == ["ns/c", "ns/b", "ns/a"]


def test_keys_can_be_added_outside_the_event_loop() -> None:
    queue: WorkQueue[str] = WorkQueue(fresh_name())  # the real clock
    queue.add("ns/a")
    queue.add_rate_limited("ns/b")

    async def take() -> str:
        return await queue.get()

    assert anyio.run(take) == "ns/a"
    assert queue.waiting == 1


async def test_the_real_clock_waits_for_its_deadline() -> None:
    from lbc.clock import MonotonicClock

    clock = MonotonicClock()
    deadline = clock.now() + 0.02
    await clock.sleep_until(deadline)
    assert clock.now() >= deadline
