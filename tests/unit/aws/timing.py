"""Driving async callers through virtual time until every one of them is done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from lbc.clock import VirtualClock


async def drive(clock: VirtualClock, *callers: Callable[[], Awaitable[None]]) -> None:
    """Run ``callers`` concurrently (started in order) while time jumps to each next sleep."""
    async with anyio.create_task_group() as group:
        for caller in callers:
            group.start_soon(caller)
            await anyio.lowlevel.checkpoint()  # arrival order is start order
        while True:
            await clock.settle()  # every caller runs until it sleeps or is done
            deadline = clock.next_deadline
            if deadline is None:
                break
            await clock.advance(deadline - clock.now())
