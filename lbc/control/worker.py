"""The worker pool: N tasks taking keys from a work queue and running one reconcile each.

The pool knows nothing about bindings. It calls a generic ``reconcile(key) -> Result | None``
coroutine and turns what comes back into the next queue action, with controller-runtime's
outcome table, so the reconciler only says *what happened* and never touches the queue:

=================================  ==========================================  =================
reconcile returned / raised        queue action                                ``result`` label
=================================  ==========================================  =================
``None`` or ``Result()``           ``forget``                                  ``success``
``Result(requeue_after=s)``        ``forget`` then ``add_after(s)``            ``requeue_after``
``Result(s, converged=True)``      ``forget`` then ``add_after(s)``            ``success``
``Result(s, deferred=True)``       ``add_after(s)``, backoff history kept      ``requeue_after``
``Result(requeue=True)``           ``add_rate_limited``                        ``requeue``
``ConflictError``                  ``add`` at once (see below)                 ``requeue``
``TerminalError``                  ``forget``, no requeue                      ``error``
``TerminalError(requeue_after=s)`` ``forget`` then ``add_after(s)``            ``error``
any other exception                ``add_rate_limited``                        ``error``
cancellation                       propagates (``done`` still runs)            none
=================================  ==========================================  =================

Conflicts (HTTP 409 on an optimistic-concurrency write) mean "someone wrote first, re-read and
try again": the key is re-added at once, without backoff, and is not counted as an error. A key
that conflicts more than ``max_conflict_retries`` times in a row falls back to the rate-limited
path, so a writer fighting us cannot make a hot loop. Terminal errors are counted in both
``controller_runtime_reconcile_errors_total`` and
``controller_runtime_terminal_reconcile_errors_total`` and are not retried with backoff: a watch
event (an input changed) brings the key back, or the error's ``requeue_after``. The pool is the
only writer of keys it handles to the queue: a reconciler says when to look again through
``Result.requeue_after`` or ``TerminalError.requeue_after``, never by adding the key itself.
Exceptions that are not lbc's classified errors are also counted in
``controller_runtime_reconcile_panics_total`` (Python's nearest thing to a panic) and logged
with their traceback.

Every attempt gets a fresh ``reconcile_id`` bound, with ``controller``, ``namespace`` and
``name``, into every log line written while it runs (:func:`lbc.observe.log.bound_context`).

Invariants: ``done(key)`` is called exactly once for every key taken, whatever happens; one
reconcile failing never ends its worker; once :meth:`Workers.stop` is called no new reconcile
starts, while those in flight run to completion (the owner bounds that with a grace period and
cancels the pool when it runs out).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar, final

import anyio

from lbc.clock import Clock, MonotonicClock
from lbc.control.workqueue import QueueShutDown, WorkQueue
from lbc.core.errors import ConflictError, LbcError, TerminalError
from lbc.observe.log import bound_context, get_logger
from lbc.observe.metrics import counter, gauge, histogram

K = TypeVar("K", bound=Hashable)


_log = get_logger("lbc.control.worker")


RESULTS = ("success", "error", "requeue", "requeue_after")

# controller-runtime's reconcile_time_seconds buckets.
_RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)

RECONCILE_TOTAL = counter(
    "controller_runtime_reconcile",
    "Total number of reconciliations per controller",
    ("controller", "result"),
)
RECONCILE_ERRORS = counter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ("controller",),
)
TERMINAL_RECONCILE_ERRORS = counter(
    "controller_runtime_terminal_reconcile_errors",
    "Total number of terminal reconciliation errors per controller",
    ("controller",),
)
RECONCILE_PANICS = counter(
    "controller_runtime_reconcile_panics",
    "Total number of reconciliation panics per controller",
    ("controller",),
)
RECONCILE_TIME = histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ("controller",),
    buckets=_RECONCILE_BUCKETS,
)
MAX_CONCURRENT_RECONCILES = gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ("controller",),
)
ACTIVE_WORKERS = gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ("controller",),
)


@dataclass(frozen=True, slots=True)
class Result:
    """What a successful reconcile asks for next.

    ``requeue_after`` (seconds) wins over ``requeue`` when both are set, as in controller-runtime.
    ``converged`` says the pass did everything it could and ``requeue_after`` only schedules
    the next routine look (a binding's drift verification, a health re-check): it is counted
    as ``success``, not ``requeue_after``, so a fleet of converged bindings shows as such.
    ``deferred`` says the pass did nothing at all and only put the work off by
    ``requeue_after``: neither a success nor a failure, so the key's backoff history (and its
    conflict streak) is kept, and a failing key put off meanwhile still backs off as before.
    """

    requeue: bool = False
    requeue_after: float | None = None
    converged: bool = False
    deferred: bool = False

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must not be negative")
        if self.deferred and not (self.requeue_after and self.requeue_after > 0):
            raise ValueError("a deferred pass must say when to come back (requeue_after > 0)")


Reconcile = Callable[[K], Awaitable[Result | None]]


def describe_key(key: Hashable) -> dict[str, object]:
    """Log fields naming a key: ``namespace``/``name`` from attributes or ``"ns/name"``."""
    name = getattr(key, "name", None)
    if isinstance(name, str):
        return {"namespace": getattr(key, "namespace", None), "name": name}
    if isinstance(key, str):
        namespace, sep, rest = key.rpartition("/")
        return {"namespace": namespace if sep else None, "name": rest}
    return {"key": str(key)}


@final
class Workers(Generic[K]):
    """``concurrency`` tasks reconciling keys from ``queue`` (see the module docstring)."""

    def __init__(
        self,
        controller: str,
        queue: WorkQueue[K],
        reconcile: Reconcile[K],
        *,
        concurrency: int = 1,
        clock: Clock | None = None,
        describe: Callable[[K], Mapping[str, object]] = describe_key,
        max_conflict_retries: int = 5,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.controller = controller
        self.queue = queue
        self.concurrency = concurrency
        self._reconcile = reconcile
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._describe = describe
        self._max_conflict_retries = max_conflict_retries
        self._conflicts: dict[K, int] = {}
        self._stopping = False
        self._stopped = anyio.Event()
        self._active = 0

        # Every outcome series exists from the start, so rate() works from the first scrape.
        for result in RESULTS:
            RECONCILE_TOTAL.labels(controller=controller, result=result)
        for family in (RECONCILE_ERRORS, TERMINAL_RECONCILE_ERRORS, RECONCILE_PANICS):
            family.labels(controller=controller)
        self._m_time = RECONCILE_TIME.labels(controller=controller)
        self._m_active = ACTIVE_WORKERS.labels(controller=controller)
        MAX_CONCURRENT_RECONCILES.labels(controller=controller).set(concurrency)

    @property
    def active(self) -> int:
        """Reconciles running right now."""
        return self._active

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        """Run the queue's delay loop and the workers until :meth:`stop` and the last one ends."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.queue.run)
                for index in range(self.concurrency):
                    tg.start_soon(self._work, index)
        finally:
            self._stopped.set()

    def stop(self) -> None:
        """Start no new reconcile; idle workers return, busy ones return when their key is done."""
        self._stopping = True
        self.queue.shut_down()

    async def wait_stopped(self) -> None:
        """Wait until :meth:`run` has returned (bound it with a deadline)."""
        await self._stopped.wait()

    async def _work(self, index: int) -> None:
        while not self._stopping:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                if self.stopping:  # (a property: mypy must not assume the await changed nothing)
                    # Keys still queued at shutdown are not reconciled: the work is
                    # level-triggered and the next leader relists everything.
                    continue
                await self._handle(key, index)
            finally:
                self.queue.done(key)

    async def _handle(self, key: K, worker: int) -> None:
        reconcile_id = uuid.uuid4().hex
        with bound_context(
            controller=self.controller, reconcile_id=reconcile_id, **self._describe(key)
        ):
            self._active += 1
            self._m_active.inc()
            started = self._clock.now()
            try:
                try:
                    result = await self._reconcile(key)
                except TerminalError as err:
                    self._on_terminal(key, err)
                except ConflictError as err:
                    self._on_conflict(key, err)
                except Exception as err:  # noqa: BLE001 - the worker's guard: any failure is an outcome
                    self._on_error(key, err)
                else:
                    self._on_result(key, result)
            finally:
                elapsed = self._clock.now() - started
                self._m_time.observe(max(0.0, elapsed))
                self._active -= 1
                self._m_active.dec()
                _log.debug("reconcile_finished", worker=worker, duration_seconds=elapsed)

    def _count(self, result: str) -> None:
        RECONCILE_TOTAL.labels(controller=self.controller, result=result).inc()

    def _on_result(self, key: K, result: Result | None) -> None:
        if result is not None and result.deferred and result.requeue_after:
            self.queue.add_after(key, result.requeue_after)
            self._count("requeue_after")
            _log.debug("reconcile_deferred", requeue_after_seconds=result.requeue_after)
            return
        self._conflicts.pop(key, None)
        if result is not None and result.requeue_after is not None and result.requeue_after > 0:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            self._count("success" if result.converged else "requeue_after")
            _log.debug("reconcile_requeued_after", requeue_after_seconds=result.requeue_after)
        elif result is not None and result.requeue:
            self.queue.add_rate_limited(key)
            self._count("requeue")
            _log.debug("reconcile_requeued", requeues=self.queue.num_requeues(key))
        else:
            self.queue.forget(key)
            self._count("success")

    def _on_conflict(self, key: K, err: ConflictError) -> None:
        streak = self._conflicts.get(key, 0) + 1
        self._conflicts[key] = streak
        self._count("requeue")
        if streak <= self._max_conflict_retries:
            self.queue.add(key)  # replayed as soon as this attempt is done
            _log.info("reconcile_conflict", reason=err.reason, error=str(err), streak=streak)
        else:
            self.queue.add_rate_limited(key)
            _log.warning(
                "reconcile_conflict_backoff",
                reason=err.reason,
                error=str(err),
                streak=streak,
                requeues=self.queue.num_requeues(key),
            )

    def _on_terminal(self, key: K, err: TerminalError) -> None:
        self._conflicts.pop(key, None)
        self.queue.forget(key)
        if err.requeue_after is not None:
            self.queue.add_after(key, err.requeue_after)
        self._count("error")
        RECONCILE_ERRORS.labels(controller=self.controller).inc()
        TERMINAL_RECONCILE_ERRORS.labels(controller=self.controller).inc()
        _log.warning("reconcile_failed_terminal", reason=err.reason, error=str(err))

    def _on_error(self, key: K, err: Exception) -> None:
        self._conflicts.pop(key, None)
        self.queue.add_rate_limited(key)
        self._count("error")
        RECONCILE_ERRORS.labels(controller=self.controller).inc()
        requeues = self.queue.num_requeues(key)
        if isinstance(err, LbcError):
            _log.warning("reconcile_failed", reason=err.reason, error=str(err), requeues=requeues)
        else:
            RECONCILE_PANICS.labels(controller=self.controller).inc()
            _log.error(
                "reconcile_failed_unexpectedly",
                error=f"{type(err).__name__}: {err}",
                requeues=requeues,
                exc_info=err,
            )
