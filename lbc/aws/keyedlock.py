"""A lock per key (per target group ARN, per VPC id), created on demand and dropped when idle.

Two bindings may share one target group, so work on one group must be serialised (two
interleaved describe → register sequences would each miss the other's targets). Work on
different groups must not be: the reference controller holds one process-wide mutex over every
target listing, which turns a fleet of bindings into a single queue. Hence one lock per key.

Invariant: an entry exists exactly while some task holds or waits for its lock, so the table's
size is bounded by the work in flight, not by every key ever seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar, final

import anyio

K = TypeVar("K", bound=Hashable)


@final
class KeyedLock(Generic[K]):
    """``async with locks.hold(key)``: exclusive per key, concurrent across keys."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[anyio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = (anyio.Lock(), [0])
            self._locks[key] = entry
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
