"""Client-side rate limit: token buckets per class of AWS operation.

ELBv2 throttles per account and region, shared with every other client of the account, and
its mutation quota is far below its describe quota. Letting botocore discover the limit by being
throttled wastes attempts and, in adaptive mode, slows every call; so each process spends a
budget of its own first: one bucket for mutations (``RegisterTargets``, ``DeregisterTargets``,
``Modify*``…), one for reads (``Describe*``), as the reference controller does
(4 rps burst 20 and 50 rps burst 200 there; lbc's defaults come from the settings).

Invariants: a bucket never holds more than ``burst`` tokens; over any window of ``t`` seconds it
grants at most ``burst + rate * t`` acquisitions; waiters are served in arrival order (a big
registration cannot starve a small one that came first, nor the reverse).

Time is injected (``clock``, ``sleep``) so tests run in virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, final

import anyio

from lbc.aws.metrics import RATE_LIMIT_WAIT

MUTATE: Final = "mutate"
DESCRIBE: Final = "describe"

_EPSILON: Final = 1e-9
_READ_PREFIXES: Final = ("Describe", "Get", "List")


def bucket_for(operation: str) -> str:
    """Which bucket an operation spends from: reads are cheap, everything else mutates."""
    return DESCRIBE if operation.startswith(_READ_PREFIXES) else MUTATE


@final
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; ``acquire`` waits for one."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        # FIFO: the lock is handed to waiters in arrival order, and the holder sleeps until its
        # token exists, so a later caller can never take the token an earlier one waits for.
        self._turn = anyio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited."""
        async with self._turn:
            start = self._clock()
            self._refill()
            # The tolerance stops float rounding from asking for sleeps too short to move the
            # clock (an endless loop of zero-length sleeps).
            while self._tokens < 1.0 - _EPSILON:
                await self._sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1.0)
            return self._clock() - start


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The configured buckets; ``acquire(operation)`` spends from the operation's bucket."""

    mutate: TokenBucket
    describe: TokenBucket

    @classmethod
    def per_second(
        cls,
        mutate: float,
        describe: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> RateLimits:
        """Buckets whose burst is one second's worth of calls (at least one)."""
        return cls(
            TokenBucket(mutate, max(1, int(mutate)), clock=clock, sleep=sleep),
            TokenBucket(describe, max(1, int(describe)), clock=clock, sleep=sleep),
        )

    async def acquire(self, operation: str) -> None:
        name = bucket_for(operation)
        bucket = self.describe if name == DESCRIBE else self.mutate
        waited = await bucket.acquire()
        RATE_LIMIT_WAIT.labels(name).observe(waited)
