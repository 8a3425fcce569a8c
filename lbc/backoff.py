"""The one backoff of lbc: ``initial · factor**failures`` capped at ``cap``, optionally jittered.

Two retry loops of the daemon wait on it, each with client-go's parameters:

- the work queue's per-key limiter (:class:`lbc.control.workqueue.ItemExponentialBackoff`,
  client-go's ``ItemExponentialFailureRateLimiter``): 5 ms doubling to 1000 s, no jitter, one
  failure count per key, cleared when the key succeeds;
- the informer's list/watch loop (:mod:`lbc.kube.informer`, client-go's reflector backoff):
  0.8 s doubling to 30 s, each wait jittered up to +100 %, back to 0.8 s after two quiet minutes.

The lab's workload controllers (``lbc_lab.controllers``) retry on it too (0.1 s doubling to 5 s).

:class:`BackoffPolicy` is the arithmetic (a failure count in, a delay out); :class:`Backoff` is
one stream of failures over it, with the self-reset. Neither reads a clock: callers pass ``now``
(seconds on a monotonic scale, from an injected :class:`lbc.clock.Clock`), so both are pure apart
from the injected random source, and tests need no time at all. The module sits at the top of the
package, outside the layers, beside :mod:`lbc.clock` and :mod:`lbc.rate`.

Invariants: a nominal delay is never below ``initial`` nor above ``cap``, and never shrinks as
failures accumulate; a jittered wait lies in ``[nominal, nominal · (1 + jitter)]``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import final


@final
@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """``initial · factor**failures`` capped at ``cap``; each wait stretched by up to ``jitter``."""

    initial: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"need 0 < initial <= cap, got {self.initial!r}, {self.cap!r}")
        if self.factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {self.factor!r}")
        if self.jitter < 0.0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter!r}")

    def nominal(self, failures: int) -> float:
        """The delay after ``failures`` earlier failures (0: the first retry waits ``initial``)."""
        try:
            delay = self.initial * self.factor**failures
        except OverflowError:  # long past the cap: a float power overflows near 2**1024
            return self.cap
        return min(self.cap, delay)

    def wait(self, failures: int, rng: random.Random) -> float:
        """:meth:`nominal`, jittered by ``rng`` when the policy has jitter."""
        nominal = self.nominal(failures)
        if self.jitter == 0.0:
            return nominal
        return nominal * (1.0 + self.jitter * rng.random())


class Backoff:
    """One stream of failures over a policy; the count returns to 0 after ``reset_after`` quiet s.

    ``reset_after=None`` never resets on its own (call :meth:`reset` on success).
    """

    __slots__ = ("_failures", "_last_failure", "_rng", "policy", "reset_after")

    def __init__(
        self,
        policy: BackoffPolicy,
        *,
        reset_after: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.reset_after = reset_after
        self._rng = rng or random.Random()
        self._failures = 0
        self._last_failure: float | None = None

    @property
    def failures(self) -> int:
        """Failures counted since the last reset."""
        return self._failures

    def delay(self, now: float) -> float:
        """Record a failure observed at ``now``; the wait before the next attempt."""
        if (
            self.reset_after is not None
            and self._last_failure is not None
            and now - self._last_failure >= self.reset_after
        ):
            self._failures = 0
        self._last_failure = now
        wait = self.policy.wait(self._failures, self._rng)
        self._failures += 1
        return wait

    def reset(self) -> None:
        """The attempt succeeded: the next failure waits ``initial`` again."""
        self._failures = 0
        self._last_failure = None
