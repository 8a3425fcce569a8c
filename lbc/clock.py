"""Time as an injected dependency, so every piece of timing logic can be tested in virtual time.

The one clock of the daemon: the work queue, the worker pool, the reconciler's drift schedule,
the informers (backoff, resync, the watch watchdog) and the event recorder's spam filter never
call ``time.monotonic()`` or sleep on their own: they ask a :class:`Clock` for ``now()`` and
wait with ``sleep_until(deadline)``. It sits at the top of the package, outside the layers,
because every layer from ``lbc.kube`` up needs it and it needs nothing of lbc. The daemon passes
:class:`MonotonicClock` (the event loop's monotonic clock); tests pass :class:`VirtualClock`,
whose time moves only when the test calls :meth:`VirtualClock.advance`, so a 1000 s backoff is
checked in microseconds and every run sees the same interleaving.

Invariant of every clock: ``now()`` never goes backwards, and ``sleep_until(d)`` returns only
once ``now() >= d``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from typing import Protocol, final

import anyio
import anyio.lowlevel


class Clock(Protocol):
    """Monotonic seconds and a way to wait for a point in them."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``; cancellable."""
        ...


@final
class MonotonicClock:
    """``time.monotonic()``: the scale asyncio's loop clock (and so anyio's timeouts) uses.

    Reading it needs no running loop, so a metrics scrape or a synchronous caller can too.
    """

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)


async def wait_event_until(clock: Clock, event: anyio.Event, deadline: float) -> bool:
    """Wait for ``event`` or for ``deadline`` on ``clock``; True when the event fired.

    Written on :meth:`Clock.sleep_until` alone, so it works the same on a virtual clock, where
    anyio's own timeouts (real time) would never fire.
    """
    if event.is_set():
        return True
    if deadline == math.inf:
        await event.wait()
        return True
    async with anyio.create_task_group() as tg:

        async def alarm() -> None:
            await clock.sleep_until(deadline)
            tg.cancel_scope.cancel()

        tg.start_soon(alarm)
        await event.wait()
        tg.cancel_scope.cancel()
    return event.is_set()


@final
class VirtualClock:
    """A clock that moves only when told to; for tests.

    :meth:`advance` walks through the sleepers' deadlines in order, waking each group and letting
    the woken tasks run (and possibly schedule new, earlier sleeps) before moving on, so that
    timer-driven code behaves as it would in real time, only without the waiting.
    """

    # How many scheduler passes let woken tasks run to their next await. The code under test
    # wakes, touches in-memory state and blocks again within a handful of passes; 64 leaves room
    # for task-group start-up and nested wake-ups without measurable cost.
    SETTLE_PASSES = 64

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, anyio.Event]] = []

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (deadline, next(self._seq), event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():
                # Cancelled: drop the entry so advance() does not stop at a dead deadline.
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    @property
    def next_deadline(self) -> float | None:
        """The earliest pending sleep, or None when nobody is sleeping."""
        return self._sleepers[0][0] if self._sleepers else None

    async def settle(self) -> None:
        """Let every runnable task run until it blocks again (time does not move)."""
        for _ in range(self.SETTLE_PASSES):
            await anyio.lowlevel.checkpoint()

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in deadline order on the way."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            self._now = max(self._now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _deadline, _seq, event = heapq.heappop(self._sleepers)
                event.set()
            await self.settle()
        self._now = target
        await self.settle()

    async def advance_to_next(self) -> float:
        """Jump to the earliest pending deadline (if any); returns the time advanced."""
        await self.settle()
        nxt = self.next_deadline
        if nxt is None:
            return 0.0
        step = max(0.0, nxt - self._now)
        await self.advance(step)
        return step
