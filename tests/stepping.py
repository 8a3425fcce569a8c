"""Virtual time for code that waits on an injected clock but makes calls that take real time.

:class:`lbc.clock.VirtualClock` moves only when told to, and lets woken tasks run until they
block again; that is enough while they block on the clock alone (in-memory fakes). Against the
lab API server a woken task blocks on a real HTTP call instead, so stepping time on at once
would skip deadlines it has yet to set. :class:`SteppedClock` counts the tasks sleeping on it
and steps only once every live task sleeps there again: the timing under test is virtual (and
so exact), the calls are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import final

import anyio
from lbc.clock import VirtualClock
from lbc.control.worker import Workers

from lbc_lab.scenario import eventually


@final
class SteppedClock:
    """A :class:`~lbc.clock.Clock` on a :class:`VirtualClock`, stepped by the test."""

    def __init__(self, start: float = 1000.0) -> None:
        self.virtual = VirtualClock(start)
        self.sleeping = 0

    def now(self) -> float:
        return self.virtual.now()

    async def sleep_until(self, deadline: float) -> None:
        self.sleeping += 1
        try:
            await self.virtual.sleep_until(deadline)
        finally:
            self.sleeping -= 1

    async def quiet(self, tasks: Iterable[asyncio.Task[None]]) -> None:
        """Wait (real time: their calls are in flight) until every live task sleeps here."""
        tasks = list(tasks)
        await eventually(
            lambda: self.sleeping >= sum(not t.done() for t in tasks),
            timeout=10,
            what="every task waiting on the clock",
            interval=0.005,
        )

    async def until(
        self, done: Callable[[], bool], tasks: Iterable[asyncio.Task[None]], *, within: float
    ) -> float:
        """Step from deadline to deadline until ``done()``; returns the virtual time it took.

        Fails once ``done()`` would need more than ``within`` virtual seconds.
        """
        tasks, started = list(tasks), self.now()
        while True:
            await self.quiet(tasks)
            if done():
                return self.now() - started
            upcoming = self.virtual.next_deadline
            if upcoming is None or upcoming - started > within:
                raise AssertionError(f"not done within {within:g} virtual seconds")
            await self.virtual.advance_to_next()


@asynccontextmanager
async def running(workers: Workers[str], clock: VirtualClock) -> AsyncIterator[None]:
    """``workers`` serving their queue on a virtual ``clock`` for the block; then stopped, let
    finish what they hold, and cancelled."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        await clock.settle()
        yield
        workers.stop()
        await clock.settle()
        tg.cancel_scope.cancel()
