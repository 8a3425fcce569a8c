"""The one token bucket of lbc: ``rate`` tokens a second, at most ``burst`` saved.

Three mechanisms spend tokens, each in its own way, on this one piece of arithmetic:

- the work queue's overall rate limit (client-go's ``BucketRateLimiter``) *reserves* a token and
  delays the key until it exists (:meth:`TokenBucket.reserve`, Go's ``Reserve().Delay()``);
- the AWS client-side limits (:mod:`lbc.aws.ratelimit`) reserve a token and sleep until it
  exists, so waiters are served in arrival order;
- the event recorder's spam filter (:mod:`lbc.kube.events`) *takes* a token only when one is
  there and drops the event otherwise (:meth:`TokenBucket.take`).

The bucket reads no clock: every call passes ``now`` (seconds on a monotonic scale, from an
injected :class:`lbc.clock.Clock`), so it is pure and tests need no time at all. It sits at the
top of the package, outside the layers, beside :mod:`lbc.clock`.

Invariants: the bucket never holds more than ``burst`` tokens; over any window of ``t`` seconds
it grants at most ``burst + rate * t`` tokens (reservations included); a reservation is never
granted before an earlier one.
"""

from __future__ import annotations

from typing import Final, final

# Float rounding must not turn "exactly one token" into a wait too short to move any clock.
_EPSILON: Final = 1e-9


@final
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; full at ``now``."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def reserve(self, now: float) -> float:
        """Spend one token, in debt if need be; the seconds until it exists (0: at once)."""
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= -_EPSILON:
            return 0.0
        return -self._tokens / self.rate

    def take(self, now: float) -> bool:
        """Spend one token if one is there now; False (nothing spent) otherwise."""
        self._refill(now)
        if self._tokens < 1.0 - _EPSILON:
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True


__all__ = ["TokenBucket"]
