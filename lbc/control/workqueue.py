"""The work queue between informers and workers, with client-go's guarantees.

Informers wake keys (``ObjectKey``-like hashable values, never objects); workers take keys and
reconcile them against fresh cache state. The queue exists so that this hand-off is safe:

- **A key is queued at most once.** The ``dirty`` set holds every key that needs work; adding a
  key that is already dirty does nothing, so a burst of 1,000 pod events for one binding costs
  one reconcile.
- **A key is never handled by two workers at once.** The ``processing`` map holds keys handed
  out by :meth:`WorkQueue.get` and not yet :meth:`WorkQueue.done`. A key added while it is being
  processed is marked dirty but not queued; ``done`` queues it again, so the change that arrived
  mid-reconcile is not lost and is not raced.
- **Delayed adds keep the earliest deadline.** ``add_after`` holds one waiting entry per key; a
  later deadline for a key already waiting is ignored, an earlier one replaces it.
- **Per-key exponential backoff.** ``add_rate_limited`` delays a key by its rate limiter
  (:class:`ItemExponentialBackoff`: ``base * 2**failures``, capped); ``forget`` resets it and
  must be called when the key succeeds. ``forget`` does not replace ``done``.
- **Priorities.** Keys added with ``low_priority=True`` (the bulk enqueue of every binding when
  a replica starts leading, resyncs) wait behind normally added keys, so a restart does not make
  a fresh change queue behind hundreds of bindings that probably need nothing; controller-runtime's
  priority queue does the same for initial-list and resync events.
- **Shutdown.** After :meth:`WorkQueue.shut_down` adds are ignored, keys still queued are still
  handed out (as client-go does; the worker pool decides whether to reconcile them), and
  :meth:`WorkQueue.get` raises :class:`QueueShutDown` once the queue is empty.
  :meth:`WorkQueue.shut_down_with_drain` also waits for in-flight keys to be ``done``.

Invariants: every key in ``queue`` or ``low`` is in ``dirty`` and not in ``processing``; a key
appears in ``queue`` and ``low`` at most once in all; a key has at most one live waiting entry.

Rate limiting choice: the default limiter is per-item exponential only (5 ms doubling to
``LBC_BACKOFF_MAX``), which is what the upstream TargetGroupBinding controller configures and
what controller-runtime's priority queue uses since v0.23. client-go's older default, the max of
that and a 10 qps / burst 100 token bucket over all retries, is available as
``MaxOf(ItemExponentialBackoff(...), BucketRateLimiter(...))`` for callers who want a global cap.

Time comes from an injected :class:`~lbc.clock.Clock`; delayed keys move into the queue
from :meth:`WorkQueue.run`, which its owner (the worker pool) runs in its task group.

Metrics (controller-runtime's names; labels ``name`` and ``controller``): ``workqueue_depth``,
``workqueue_adds_total``, ``workqueue_queue_duration_seconds``,
``workqueue_work_duration_seconds``, ``workqueue_unfinished_work_seconds``,
``workqueue_longest_running_processor_seconds``, ``workqueue_retries_total``. Gauges are computed
when scraped, so they are exact without a ticker task. ``workqueue_depth`` counts the dirty keys
(queued, or re-added while in flight), as client-go's does; keys waiting on a delay are not in it.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Generic, Protocol, TypeVar, final

import anyio
import anyio.lowlevel

from lbc.backoff import BackoffPolicy
from lbc.clock import Clock, MonotonicClock, wait_event_until
from lbc.observe.metrics import counter, gauge, gauge_from, histogram
from lbc.rate import TokenBucket

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# client-go's insurance: the delay loop looks at its heap at least this often even if no
# wake-up arrives, so a lost wake-up can delay a key by at most this much.
_HEARTBEAT_SECONDS = 10.0

_LABELS = ("name", "controller")
# controller-runtime: prometheus.ExponentialBuckets(10e-9, 10, 12), i.e. 1e-8 s .. 1e3 s.
_DURATION_BUCKETS = tuple(1e-8 * 10**i for i in range(12))

WORKQUEUE_DEPTH = gauge("workqueue_depth", "Current depth of workqueue", _LABELS)
WORKQUEUE_ADDS = counter("workqueue_adds", "Total number of adds handled by workqueue", _LABELS)
WORKQUEUE_QUEUE_DURATION = histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    _LABELS,
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_WORK_DURATION = histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    _LABELS,
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_UNFINISHED_WORK = gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads.",
    _LABELS,
)
WORKQUEUE_LONGEST_RUNNING = gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    _LABELS,
)
WORKQUEUE_RETRIES = counter(
    "workqueue_retries", "Total number of retries handled by workqueue", _LABELS
)


class QueueShutDown(Exception):  # noqa: N818 - named after the condition, like asyncio's
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and empty."""


class RateLimiter(Protocol[K_contra]):
    """Decides how long a key waits before its next attempt."""

    def when(self, key: K_contra) -> float:
        """Delay in seconds for this attempt; records the attempt."""
        ...

    def forget(self, key: K_contra) -> None:
        """The key succeeded: clear its history."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """How many attempts have been recorded since the last forget."""
        ...


@final
class ItemExponentialBackoff(Generic[K]):
    """``base * 2**failures`` per key, capped at ``cap`` (client-go's item exponential limiter).

    ``when`` returns the delay for the current failure count, then increments it, so the first
    retry waits ``base``. The arithmetic is :class:`lbc.backoff.BackoffPolicy` (no jitter); this
    keeps only one failure count per key.
    """

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.policy = BackoffPolicy(initial=base, cap=cap)
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return self.policy.nominal(failures)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


@final
class BucketRateLimiter(Generic[K]):
    """An overall token bucket over all keys (``qps`` refill, ``burst`` size).

    Every ``when`` reserves one token (:meth:`lbc.rate.TokenBucket.reserve`) and returns how long
    until it exists, as client-go's ``BucketRateLimiter`` does with Go's ``rate.Limiter``.
    """

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._bucket = TokenBucket(qps, burst, clock.now())

    def when(self, key: K) -> float:
        del key
        return self._bucket.reserve(self._clock.now())

    def forget(self, key: K) -> None:
        del key

    def num_requeues(self, key: K) -> int:
        del key
        return 0


@final
class MaxOf(Generic[K]):
    """The longest delay of several limiters (each one records every attempt)."""

    def __init__(self, limiters: Sequence[RateLimiter[K]]) -> None:
        if not limiters:
            raise ValueError("need at least one limiter")
        self._limiters = tuple(limiters)

    def when(self, key: K) -> float:
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: K) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max(limiter.num_requeues(key) for limiter in self._limiters)


@final
class WorkQueue(Generic[K]):
    """De-duplicating, delaying, rate-limited queue of keys (see the module docstring).

    Single event loop, no locks: every method that changes state runs to completion without
    awaiting, so the invariants hold between any two awaits.
    """

    def __init__(
        self,
        name: str,
        *,
        controller: str | None = None,
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self.controller = controller if controller is not None else name
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None else ItemExponentialBackoff()
        )
        self._queue: deque[K] = deque()
        self._low: deque[K] = deque()  # handed out only when _queue is empty
        self._low_keys: set[K] = set()  # dirty keys whose every pending add was low priority
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}  # key -> when get() handed it out
        self._added_at: dict[K, float] = {}  # key -> when it became dirty (queue latency)
        self._waiting: dict[K, tuple[float, int]] = {}  # key -> live (ready_at, seq)
        self._heap: list[tuple[float, int, K]] = []  # may hold superseded entries
        self._seq = itertools.count()
        self._shutting_down = False
        self._item_ready = anyio.Event()
        self._timer_wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()

        labels = {"name": name, "controller": self.controller}
        self._m_adds = WORKQUEUE_ADDS.labels(**labels)
        self._m_retries = WORKQUEUE_RETRIES.labels(**labels)
        self._m_queue_duration = WORKQUEUE_QUEUE_DURATION.labels(**labels)
        self._m_work_duration = WORKQUEUE_WORK_DURATION.labels(**labels)
        gauge_from(WORKQUEUE_DEPTH.labels(**labels), self, lambda q: float(len(q._dirty)))
        gauge_from(
            WORKQUEUE_UNFINISHED_WORK.labels(**labels), self, WorkQueue.unfinished_work_seconds
        )
        gauge_from(
            WORKQUEUE_LONGEST_RUNNING.labels(**labels), self, WorkQueue.longest_running_seconds
        )

    # --- adding -------------------------------------------------------------------------------

    def add(self, key: K, *, low_priority: bool = False) -> None:
        """Mark ``key`` as needing work; queue it unless it is already queued or in flight.

        ``low_priority`` keys are handed out only when no normal key is queued; a normal add
        of a key waiting at low priority promotes it (the key keeps its highest priority).
        """
        if self._shutting_down:
            return
        if key in self._dirty:
            if not low_priority and key in self._low_keys:
                self._low_keys.discard(key)
                if key not in self._processing:
                    self._low.remove(key)  # linear, but only on a promotion
                    self._queue.append(key)
                    self._item_ready.set()
            return
        self._m_adds.inc()
        self._dirty.add(key)
        self._added_at.setdefault(key, self._clock.now())
        if low_priority:
            self._low_keys.add(key)
        if key in self._processing:
            return  # replayed by done()
        (self._low if low_priority else self._queue).append(key)
        self._item_ready.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; a key already waiting keeps its earliest time."""
        if self._shutting_down:
            return
        # client-go counts every delayed add as a retry, including those with no delay.
        self._m_retries.inc()
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current[0] <= ready_at:
            return
        seq = next(self._seq)
        self._waiting[key] = (ready_at, seq)
        heapq.heappush(self._heap, (ready_at, seq, key))
        if self._heap[0][1] == seq:
            self._timer_wake.set()  # a new earliest deadline: the delay loop must re-arm

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after its rate limiter's delay (which grows until :meth:`forget`)."""
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Clear ``key``'s backoff history (on success); it does not replace :meth:`done`."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    # --- taking -------------------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for a key and mark it in flight; the caller must call :meth:`done` with it.

        Raises :class:`QueueShutDown` once the queue is shut down and nothing is queued.
        """
        await anyio.lowlevel.checkpoint()
        while not self._queue and not self._low:
            if self._shutting_down:
                raise QueueShutDown(self.name)
            if self._item_ready.is_set():
                self._item_ready = anyio.Event()
            await self._item_ready.wait()
        key = self._queue.popleft() if self._queue else self._low.popleft()
        now = self._clock.now()
        self._dirty.discard(key)
        self._low_keys.discard(key)
        added = self._added_at.pop(key, None)
        if added is not None:
            self._m_queue_duration.observe(max(0.0, now - added))
        self._processing[key] = now
        if self._idle.is_set():
            self._idle = anyio.Event()
        if self._queue or self._low:
            self._item_ready.set()  # more work: let the next waiter through
        return key

    def done(self, key: K) -> None:
        """``key`` is no longer in flight; queue it again if it was added meanwhile."""
        started = self._processing.pop(key, None)
        if started is None:
            return
        self._m_work_duration.observe(max(0.0, self._clock.now() - started))
        if key in self._dirty:
            (self._low if key in self._low_keys else self._queue).append(key)
            self._item_ready.set()
        if not self._processing:
            self._idle.set()

    # --- delayed keys -------------------------------------------------------------------------

    async def run(self) -> None:
        """Move delayed keys into the queue when they are due; returns after shutdown."""
        while not self._shutting_down:
            self._timer_wake = anyio.Event()
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                ready_at, seq, key = heapq.heappop(self._heap)
                if self._waiting.get(key) != (ready_at, seq):
                    continue  # superseded by an earlier deadline for the same key
                del self._waiting[key]
                self.add(key)
            next_at = self._heap[0][0] if self._heap else now + _HEARTBEAT_SECONDS
            await wait_event_until(
                self._clock, self._timer_wake, min(next_at, now + _HEARTBEAT_SECONDS)
            )

    # --- shutdown -----------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Refuse new adds, drop waiting delayed keys and wake every waiter."""
        self._shutting_down = True
        self._waiting.clear()
        self._heap.clear()
        self._item_ready.set()
        self._timer_wake.set()

    async def shut_down_with_drain(self) -> None:
        """:meth:`shut_down`, then wait until no key is in flight (bound it with a deadline)."""
        self.shut_down()
        await self._idle.wait()

    async def wait_idle(self) -> None:
        """Wait until no key is in flight."""
        await self._idle.wait()

    # --- introspection ------------------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys queued and not in flight (informational; never gate logic on it)."""
        return len(self._queue) + len(self._low)

    @property
    def in_flight(self) -> int:
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Keys held back by a delayed add."""
        return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        now = self._clock.now()
        return sum(now - started for started in self._processing.values())

    def longest_running_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return self._clock.now() - min(self._processing.values())
