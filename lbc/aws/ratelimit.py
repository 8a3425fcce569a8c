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

The arithmetic is lbc's one token bucket (:mod:`lbc.rate`); time is the injected
:class:`lbc.clock.Clock`, so tests run in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

import anyio.lowlevel

from lbc.aws.metrics import RATE_LIMIT_WAIT
from lbc.clock import Clock, MonotonicClock
from lbc.rate import TokenBucket

MUTATE: Final = "mutate"
DESCRIBE: Final = "describe"

_READ_PREFIXES: Final = ("Describe", "Get", "List")


def bucket_for(operation: str) -> str:
    """Which bucket an operation spends from: reads are cheap, everything else mutates."""
    return DESCRIBE if operation.startswith(_READ_PREFIXES) else MUTATE


@final
class AwsBucket:
    """A :class:`lbc.rate.TokenBucket` callers wait on: ``acquire`` sleeps until its token exists.

    The token is reserved on arrival, so waiters are served in arrival order and a cancelled
    wait leaves its token spent (the budget errs on the side of fewer calls).
    """

    def __init__(self, rate: float, burst: int, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._bucket = TokenBucket(rate, burst, self._clock.now())

    @property
    def rate(self) -> float:
        return self._bucket.rate

    @property
    def burst(self) -> int:
        return self._bucket.burst

    async def acquire(self) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited."""
        now = self._clock.now()
        delay = self._bucket.reserve(now)
        if delay > 0:
            await self._clock.sleep_until(now + delay)
        else:
            await anyio.lowlevel.checkpoint()
        return delay


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The configured buckets; ``acquire(operation)`` spends from the operation's bucket."""

    mutate: AwsBucket
    describe: AwsBucket

    @classmethod
    def per_second(
        cls,
        mutate: float,
        describe: float,
        *,
        clock: Clock | None = None,
    ) -> RateLimits:
        """Buckets whose burst is one second's worth of calls (at least one)."""
        return cls(
            AwsBucket(mutate, max(1, int(mutate)), clock=clock),
            AwsBucket(describe, max(1, int(describe)), clock=clock),
        )

    async def acquire(self, operation: str) -> None:
        name = bucket_for(operation)
        bucket = self.describe if name == DESCRIBE else self.mutate
        waited = await bucket.acquire()
        RATE_LIMIT_WAIT.labels(name).observe(waited)
