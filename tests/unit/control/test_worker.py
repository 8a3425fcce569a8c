"""The worker pool maps reconcile outcomes to queue actions as controller-runtime does.

All tests run in virtual time: the clock moves only when a test advances it.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import orjson
import pytest
from lbc.clock import VirtualClock
from lbc.control.worker import Result, Workers, describe_key
from lbc.control.workqueue import ItemExponentialBackoff, WorkQueue
from lbc.core.errors import ConflictError, TerminalError, TransientError
from lbc.observe.log import configure, get_logger
from lbc.observe.metrics import REGISTRY

from tests.stepping import running

_names = itertools.count()

Behaviour = Callable[[str, int], Awaitable[Result | None]]


@dataclass
class Harness:
    clock: VirtualClock
    queue: WorkQueue[str]
    workers: Workers[str]
    calls: list[tuple[str, float]] = field(default_factory=list)

    def times(self, key: str) -> list[float]:
        start = self.calls[0][1] if self.calls else 0.0
        return [round(t - start, 6) for k, t in self.calls if k == key]

    def count(self, result: str) -> float:
        value = REGISTRY.get_sample_value(
            "controller_runtime_reconcile_total",
            {"controller": self.workers.controller, "result": result},
        )
        return value or 0.0

    def counter(self, metric: str) -> float:
        value = REGISTRY.get_sample_value(metric, {"controller": self.workers.controller})
        assert value is not None, metric
        return value


@asynccontextmanager
async def harness(
    behaviour: Behaviour, *, concurrency: int = 1, base: float = 1.0, cap: float = 64.0
) -> AsyncIterator[Harness]:
    clock = VirtualClock()
    name = f"c{next(_names)}"
    queue: WorkQueue[str] = WorkQueue(
        name, clock=clock, rate_limiter=ItemExponentialBackoff(base=base, cap=cap)
    )
    attempts: dict[str, int] = {}
    h: Harness

    async def reconcile(key: str) -> Result | None:
        attempt = attempts.get(key, 0)
        attempts[key] = attempt + 1
        h.calls.append((key, clock.now()))
        return await behaviour(key, attempt)

    workers = Workers(name, queue, reconcile, concurrency=concurrency, clock=clock)
    h = Harness(clock, queue, workers)
    async with running(workers, clock):
        yield h


async def succeed(_key: str, _attempt: int) -> Result | None:
    return None


async def test_success_is_counted_and_clears_the_backoff() -> None:
    async def fail_twice(_key: str, attempt: int) -> Result | None:
        if attempt < 2:
            raise TransientError("throttled")
        return None

    async with harness(fail_twice) as h:
        h.queue.add("ns/a")
        await h.clock.advance(10.0)
        assert h.times("ns/a") == [0.0, 1.0, 3.0]
        assert h.queue.num_requeues("ns/a") == 0, "success did not forget the backoff"
        assert h.count("success") == 1
        assert h.count("error") == 2


async def test_failing_key_is_retried_with_exponential_backoff() -> None:
    async def always_fail(_key: str, _attempt: int) -> Result | None:
        raise TransientError("AWS is down")

    async with harness(always_fail, base=1.0, cap=8.0) as h:
        h.queue.add("ns/a")
        await h.clock.advance(40.0)
        assert h.times("ns/a") == [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0, 39.0]
        assert h.counter("controller_runtime_reconcile_errors_total") == 8
        assert h.counter("controller_runtime_terminal_reconcile_errors_total") == 0


async def test_terminal_error_is_not_requeued() -> None:
    async def bad_spec(_key: str, _attempt: int) -> Result | None:
        raise TerminalError("targetType is immutable", reason="InvalidSpec")

    async with harness(bad_spec) as h:
        h.queue.add("ns/a")
        await h.clock.advance(3600.0)
        assert h.times("ns/a") == [0.0]
        assert h.queue.num_requeues("ns/a") == 0
        assert h.counter("controller_runtime_terminal_reconcile_errors_total") == 1
        assert h.counter("controller_runtime_reconcile_errors_total") == 1
        assert h.count("error") == 1
        h.queue.add("ns/a")  # an input changed: the watch brings it back
        await h.clock.settle()
        assert len(h.times("ns/a")) == 2


async def test_terminal_error_with_requeue_after_comes_back_then_and_not_sooner() -> None:
    async def stuck(_key: str, _attempt: int) -> Result | None:
        raise TerminalError("Service missing", reason="BackendNotFound", requeue_after=300.0)

    async with harness(stuck) as h:
        h.queue.add("ns/a")
        await h.clock.advance(900.0)
        assert h.times("ns/a") == [0.0, 300.0, 600.0, 900.0]
        assert h.queue.num_requeues("ns/a") == 0, "a terminal error must not grow the backoff"
        assert h.counter("controller_runtime_terminal_reconcile_errors_total") == 4


def test_terminal_error_refuses_a_requeue_that_would_loop() -> None:
    with pytest.raises(ValueError, match="positive"):
        TerminalError("stuck", requeue_after=0.0)


async def test_conflict_requeues_at_once_then_backs_off_when_it_persists() -> None:
    async def conflict(_key: str, _attempt: int) -> Result | None:
        raise ConflictError("the ledger changed under us")

    async with harness(conflict, base=1.0) as h:
        h.workers._max_conflict_retries = 3
        h.queue.add("ns/a")
        await h.clock.settle()
        assert h.times("ns/a") == [0.0, 0.0, 0.0, 0.0], "conflicts were not retried at once"
        await h.clock.advance(1.0)
        assert h.times("ns/a")[-1] == 1.0, "a persistent conflict did not fall back to backoff"
        assert h.count("requeue") == 5
        assert h.count("error") == 0


async def test_requeue_after_forgets_the_backoff_and_waits_the_period() -> None:
    async def flaky_then_periodic(_key: str, attempt: int) -> Result | None:
        if attempt < 3:
            raise TransientError("blip")
        return Result(requeue_after=15.0)

    async with harness(flaky_then_periodic) as h:
        h.queue.add("ns/a")
        await h.clock.advance(40.0)
        assert h.times("ns/a") == [0.0, 1.0, 3.0, 7.0, 22.0, 37.0]
        assert h.queue.num_requeues("ns/a") == 0
        assert h.count("requeue_after") == 3


async def test_a_converged_pass_with_its_next_routine_look_counts_as_success() -> None:
    async def converged(_key: str, _attempt: int) -> Result | None:
        return Result(requeue_after=15.0, converged=True)

    async with harness(converged) as h:
        h.queue.add("ns/a")
        await h.clock.advance(30.0)
        assert h.times("ns/a") == [0.0, 15.0, 30.0]
        assert h.count("success") == 3
        assert h.count("requeue_after") == 0


async def test_requeue_true_is_rate_limited() -> None:
    async def again(_key: str, _attempt: int) -> Result | None:
        return Result(requeue=True)

    async with harness(again) as h:
        h.queue.add("ns/a")
        await h.clock.advance(7.0)
        assert h.times("ns/a") == [0.0, 1.0, 3.0, 7.0]
        assert h.count("requeue") == 4


async def test_one_failing_reconcile_never_stops_a_worker() -> None:
    async def crash_on_a(key: str, _attempt: int) -> Result | None:
        if key == "ns/a":
            raise KeyError("bug in the reconciler")
        return None

    async with harness(crash_on_a, base=100.0, cap=100.0) as h:
        h.queue.add("ns/a")
        h.queue.add("ns/b")
        await h.clock.settle()
        h.queue.add("ns/c")
        await h.clock.settle()
        assert [k for k, _ in h.calls] == ["ns/a", "ns/b", "ns/c"]
        assert h.counter("controller_runtime_reconcile_panics_total") == 1
        assert h.count("success") == 2


async def test_a_key_is_never_reconciled_by_two_workers_at_once() -> None:
    in_flight: set[str] = set()
    overlaps: list[str] = []
    gate = anyio.Event()

    async def slow(key: str, _attempt: int) -> Result | None:
        if key in in_flight:
            overlaps.append(key)
        in_flight.add(key)
        try:
            await gate.wait()
        finally:
            in_flight.discard(key)
        return None

    async with harness(slow, concurrency=4) as h:
        h.queue.add("ns/a")
        await h.clock.settle()
        for _ in range(10):
            h.queue.add("ns/a")  # events arriving mid-reconcile
            h.queue.add("ns/b")
        await h.clock.settle()
        assert h.workers.active == 2
        gate.set()
        await h.clock.settle()
        assert overlaps == []
        assert [k for k, _ in h.calls].count("ns/a") == 2, "the mid-reconcile add was lost"


async def test_stop_finishes_work_in_flight_and_starts_nothing_new() -> None:
    gate = anyio.Event()

    async def slow(_key: str, _attempt: int) -> Result | None:
        await gate.wait()
        return None

    async with harness(slow, concurrency=1) as h:
        h.queue.add("ns/a")
        h.queue.add("ns/b")
        await h.clock.settle()
        h.workers.stop()
        await h.clock.settle()
        assert not h.workers._stopped.is_set(), "stopped while a reconcile was in flight"
        gate.set()
        with anyio.fail_after(5):
            await h.workers.wait_stopped()
        assert [k for k, _ in h.calls] == ["ns/a"], "a queued key was started after stop"
        assert h.count("success") == 1


async def test_cancellation_propagates_and_releases_the_key() -> None:
    clock = VirtualClock()
    queue: WorkQueue[str] = WorkQueue(f"c{next(_names)}", clock=clock)
    started = anyio.Event()

    async def hang(_key: str) -> Result | None:
        started.set()
        await anyio.sleep_forever()
        return None

    workers = Workers("cancel", queue, hang, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        queue.add("ns/a")
        await started.wait()
        assert queue.in_flight == 1
        tg.cancel_scope.cancel()
    assert queue.in_flight == 0
    assert workers.active == 0


async def test_every_log_line_of_a_reconcile_carries_its_reconcile_id() -> None:
    out = io.StringIO()
    configure("debug", "json", stream=out)
    log = get_logger("lbc.test.reconciler")

    async def chatty(key: str, attempt: int) -> Result | None:
        log.info("gathering", step=1)
        await anyio.lowlevel.checkpoint()
        log.info("planning", step=2)
        if attempt == 0:
            raise TransientError("retry me")
        return None

    try:
        async with harness(chatty) as h:
            h.queue.add("team-a/web")
            await h.clock.advance(1.0)
    finally:
        configure("info", "json")
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    reconciler_lines = [line for line in lines if line["logger"] == "lbc.test.reconciler"]
    assert len(reconciler_lines) == 4
    ids = [line["reconcile_id"] for line in reconciler_lines]
    assert ids[0] == ids[1] != ids[2] == ids[3], "attempts must get fresh ids"
    for line in reconciler_lines:
        assert line["namespace"] == "team-a"
        assert line["name"] == "web"
        assert line["controller"] == h.workers.controller
    failure = next(line for line in lines if line["event"] == "reconcile_failed")
    assert failure["reconcile_id"] == ids[0]
    assert failure["reason"] == "Transient"


async def test_outcome_series_exist_before_the_first_reconcile() -> None:
    async with harness(succeed, concurrency=3) as h:
        for result in ("success", "error", "requeue", "requeue_after"):
            assert (
                REGISTRY.get_sample_value(
                    "controller_runtime_reconcile_total",
                    {"controller": h.workers.controller, "result": result},
                )
                == 0
            )
        assert h.counter("controller_runtime_max_concurrent_reconciles") == 3
        assert h.counter("controller_runtime_active_workers") == 0


async def test_reconcile_time_is_measured_on_the_injected_clock() -> None:
    async def takes_two_seconds(_key: str, _attempt: int) -> Result | None:
        await clock_ref[0].sleep(2.0)
        return None

    clock_ref: list[VirtualClock] = []
    async with harness(takes_two_seconds) as h:
        clock_ref.append(h.clock)
        h.queue.add("ns/a")
        await h.clock.advance(2.0)
        assert h.counter("controller_runtime_reconcile_time_seconds_sum") == pytest.approx(2.0)
        assert h.count("success") == 1


def test_keys_are_described_by_namespace_and_name() -> None:
    @dataclass(frozen=True)
    class Key:
        namespace: str
        name: str

    assert describe_key(Key("ns", "a")) == {"namespace": "ns", "name": "a"}
    assert describe_key("ns/a") == {"namespace": "ns", "name": "a"}
    assert describe_key("cluster-scoped") == {"namespace": None, "name": "cluster-scoped"}
    assert describe_key(42) == {"key": "42"}


def test_negative_requeue_after_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Result(requeue_after=-1.0)


async def test_a_deferred_pass_comes_back_then_and_keeps_the_backoff() -> None:
    async def fail_then_defer_then_fail(_key: str, attempt: int) -> Result | None:
        if attempt == 2:
            return Result(requeue_after=0.5, deferred=True)  # put off: did nothing at all
        raise TransientError("throttled")

    async with harness(fail_then_defer_then_fail, base=1.0, cap=64.0) as h:
        h.queue.add("ns/a")
        await h.clock.advance(1.0)  # failed at 0 and at 1: the next retry waits 2
        assert h.queue.num_requeues("ns/a") == 2
        h.queue.add("ns/a")  # an input changed meanwhile: this pass is put off
        await h.clock.settle()
        assert h.queue.num_requeues("ns/a") == 2, "a deferred pass reset the backoff"
        await h.clock.advance(0.5)  # back after its 0.5 s, fails again: the backoff goes on
        assert h.queue.num_requeues("ns/a") == 3
        assert h.times("ns/a") == [0.0, 1.0, 1.0, 1.5]
        assert h.count("requeue_after") == 1


def test_a_deferred_pass_must_say_when_to_come_back() -> None:
    with pytest.raises(ValueError, match="deferred"):
        Result(deferred=True)
