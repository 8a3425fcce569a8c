"""Wiring and lifecycle of the daemon: one root task group, and an ordered shutdown.

Every long-lived task has one owner, the root task group of :meth:`Daemon.run`: the probe and
metrics servers, the admission webhook server (every replica, ``lbc.webhook``), the loop
heartbeat, the signal listener, the informers, and the leader branch
(election plus workers). Nothing outlives it.

Start-up: servers up (liveness passes, readiness fails) → informers list and watch → once every
cache has synced, readiness passes and the replica campaigns for the Lease → when it leads,
each controller is told (``started_leading``: enqueue every key it owns) and its workers start.
A replica campaigns only with warm caches, so a leader never reconciles from a partial view,
and a standby is Ready and takes over within one lease expiry. Readiness never depends on
leadership.

Graceful shutdown (SIGTERM or SIGINT), in this order, because each step protects the next:

1. readiness fails (``/readyz`` → 500), so nothing new is routed here;
2. the queues stop taking work and idle workers return; no new reconcile starts;
3. reconciles in flight finish, within ``LBC_SHUTDOWN_GRACE_PERIOD``; if they do not, they are
   cancelled and the exit code says so (:data:`EXIT_GRACE_EXCEEDED`);
4. only then is the Lease released (empty holder, 1 s duration), so the standby takes over
   within about one retry period and never overlaps with a reconcile still running here;
5. informers and servers stop; exit 0.

Every wait of the lifecycle (the cache-sync warnings, the grace period, the release budget)
is measured on the daemon's injected :class:`~lbc.clock.Clock`, the one its workers use, so the
lifecycle is tested in virtual time.

A second signal during shutdown cancels everything at once (:data:`EXIT_FORCED`). Losing the
Lease while leading cancels in-flight reconciles immediately, without a grace period (another
replica may already be acting) and exits :data:`EXIT_LEADERSHIP_LOST`, as controller-runtime
does; the Deployment restarts the pod as a standby.

Plugging in a controller: a :data:`ControllerFactory` yields :class:`Controller` objects (the
binding controller is one); the daemon owns their workers. The informer and elector shapes the
daemon needs are the :class:`Informer` and :class:`Elector` protocols, which
``lbc.kube.informer.Informer`` and ``lbc.kube.lease.LeaderElector`` satisfy; tests pass fakes.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, Final, NoReturn, Protocol, final

import anyio
import anyio.abc

from lbc import __version__
from lbc.clock import Clock, MonotonicClock, wait_event_until
from lbc.control.worker import Result, Workers
from lbc.control.workqueue import WorkQueue
from lbc.core.errors import TerminalError
from lbc.kube.client import KubeClient
from lbc.kube.config import api_client_from_settings, in_cluster_namespace
from lbc.kube.lease import ElectionConfig, LeaderElectionLostError, LeaderElector, default_identity
from lbc.observe.log import configure, get_logger, redact
from lbc.observe.metrics import set_build_info
from lbc.observe.probes import Health, HttpEndpoints, LoopHeartbeat
from lbc.settings import Settings
from lbc.webhook.server import webhook_server

EXIT_OK = 0
EXIT_FORCED = 1
"""A second SIGTERM/SIGINT arrived during the graceful shutdown."""
EXIT_CONFIG = 2
"""The daemon cannot start as configured (for instance no usable Kubernetes credentials)."""
EXIT_LEADERSHIP_LOST = 3
"""The Lease was lost while leading; reconciles were cancelled at once."""
EXIT_GRACE_EXCEEDED = 4
"""In-flight reconciles outlived ``LBC_SHUTDOWN_GRACE_PERIOD`` and were cancelled."""

WATCH_SILENCE_LIMIT = 300.0
"""Seconds a synced informer may hear nothing (bookmarks included) before liveness fails.

The informer's own watchdog re-opens a stream silent for 90 s; still hearing nothing 300 s
later means re-opening does not help, and a restart is the remaining remedy."""

CACHE_SYNC_WARNING = 120.0
"""Seconds between ``caches_not_synced`` warnings while start-up waits for the first lists
(controller-runtime's CacheSyncTimeout is 2 minutes; we keep waiting, Unready, and say so)."""

RELEASE_BUDGET = 15.0
"""Upper bound on the Lease release after the workers stopped (the call has its own deadline)."""


_log = get_logger("lbc.app")


class Informer(Protocol):
    """What the daemon needs of an informer."""

    async def run(self) -> None: ...

    def has_synced(self) -> bool: ...

    async def wait_synced(self) -> None: ...

    def last_event_age(self) -> float: ...


class Elector(Protocol):
    """What the daemon needs of leader election (``lbc.kube.lease.LeaderElector``).

    ``run()`` campaigns and then renews; it raises ``LeaderElectionLostError`` when leadership
    is lost and, when cancelled while leading, releases the Lease before re-raising.
    """

    async def run(self) -> NoReturn: ...

    async def wait_leading(self) -> None: ...

    def healthy(self, tolerance: float = 5.0) -> bool: ...


class Controller(Protocol):
    """A controller as the daemon runs it: informers, a queue, and a reconcile function.

    The controller's informer handlers add keys to ``queue`` at any time (also on a standby,
    where the keys simply wait, de-duplicated); the daemon runs ``concurrency`` workers calling
    ``reconcile`` only while this replica leads. ``started_leading`` is called once, after
    caches synced and the Lease was won, before the workers start: enqueue every key owned,
    preferably with ``queue.add(key, low_priority=True)`` so live events are served first.
    """

    @property
    def name(self) -> str: ...

    @property
    def informers(self) -> Sequence[Informer]: ...

    @property
    def queue(self) -> WorkQueue[Any]: ...

    @property
    def concurrency(self) -> int: ...

    async def reconcile(self, key: Any) -> Result | None: ...

    def started_leading(self) -> None: ...


class Server(Protocol):
    """A server the daemon runs for its whole life on every replica (the admission webhooks)."""

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None: ...


ControllerFactory = Callable[
    [Settings, KubeClient], AbstractAsyncContextManager[Sequence[Controller]]
]
"""Builds the controllers (and owns their clients) for the daemon's lifetime."""


@asynccontextmanager
async def no_controllers(_settings: Settings, _kube: KubeClient) -> AsyncIterator[Sequence[Any]]:
    """The default factory until the binding controller is wired: leader election only."""
    yield ()


@final
class Daemon:
    """The lifecycle of one lbc process (see the module docstring for the order of things)."""

    def __init__(
        self,
        *,
        controllers: Sequence[Controller],
        elector: Elector | None,
        health: Health,
        endpoints: HttpEndpoints,
        grace_period: float,
        extra_informers: Sequence[Informer] = (),
        servers: Sequence[Server] = (),
        clock: Clock | None = None,
        handle_signals: bool = True,
        heartbeat: LoopHeartbeat | None = None,
        sync_warning_interval: float = CACHE_SYNC_WARNING,
    ) -> None:
        self.controllers = tuple(controllers)
        self.health = health
        self.endpoints = endpoints
        self._elector = elector
        self._grace = grace_period
        self._sync_warning_interval = sync_warning_interval
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._handle_signals = handle_signals
        self._heartbeat = heartbeat if heartbeat is not None else LoopHeartbeat()
        self._informers: tuple[Informer, ...] = (
            *(i for c in self.controllers for i in c.informers),
            *extra_informers,
        )
        self._workers: list[Workers[Any]] = []
        self._servers = tuple(servers)
        self._stop_requested = anyio.Event()
        self._leading = anyio.Event()
        self._work_done = anyio.Event()
        self._lead_done = anyio.Event()
        self._lead_scope = anyio.CancelScope()
        self._work_scope = anyio.CancelScope()
        self._forced = False
        self._root: anyio.abc.TaskGroup | None = None
        self._register_checks()

    # --- health -------------------------------------------------------------------------------

    def _register_checks(self) -> None:
        self.health.add_liveness("event_loop", self._heartbeat.check)
        self.health.add_liveness("watches", self._watches_check)
        if self._elector is not None:
            elector = self._elector
            self.health.add_liveness(
                "leader_election",
                lambda: None if elector.healthy() else "leader has not renewed its Lease",
            )
        self.health.add_readiness("caches_synced", self._synced_check)

    def _synced_check(self) -> str | None:
        pending = sum(1 for informer in self._informers if not informer.has_synced())
        return f"{pending} of {len(self._informers)} caches not synced" if pending else None

    def _watches_check(self) -> str | None:
        silent = [
            age
            for informer in self._informers
            if informer.has_synced() and (age := informer.last_event_age()) > WATCH_SILENCE_LIMIT
        ]
        if silent:
            return f"{len(silent)} watches silent for up to {max(silent):.0f}s"
        return None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    async def wait_leading(self) -> None:
        await self._leading.wait()

    def request_shutdown(self) -> None:
        """Begin the graceful shutdown (what SIGTERM does)."""
        self._stop_requested.set()

    async def run(self) -> int:
        """Run until shutdown; returns the process exit code."""
        code = EXIT_OK
        try:
            async with anyio.create_task_group() as root:
                self._root = root
                if self._handle_signals:
                    # Installed before anything else: a SIGTERM from here on is graceful.
                    await root.start(self._watch_signals)
                await root.start(self.endpoints.serve)
                # Served by standbys too, until the root group ends (step 5 of the shutdown).
                for server in self._servers:
                    await root.start(server.serve)
                root.start_soon(self._heartbeat.run)
                for informer in self._informers:
                    root.start_soon(informer.run)
                root.start_soon(self._lead)
                _log.info(
                    "daemon_started",
                    probe_port=self.endpoints.probe_port,
                    metrics_port=self.endpoints.metrics_port,
                    controllers=[c.name for c in self.controllers],
                    leader_election=self._elector is not None,
                )
                await self._stop_requested.wait()
                code = await self._shut_down()
                root.cancel_scope.cancel()
        except* LeaderElectionLostError:
            _log.error("leader_election_lost", action="exiting; in-flight reconciles cancelled")
            code = EXIT_LEADERSHIP_LOST
        if code == EXIT_LEADERSHIP_LOST:
            return code
        if self._forced:
            return EXIT_FORCED
        _log.info("daemon_stopped", exit_code=code)
        return code

    async def _watch_signals(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                if not self._stop_requested.is_set():
                    _log.info("shutdown_requested", signal=name, grace_seconds=self._grace)
                    self.request_shutdown()
                else:
                    _log.warning("shutdown_forced", signal=name)
                    self._forced = True
                    if self._root is not None:
                        self._root.cancel_scope.cancel()

    async def _lead(self) -> None:
        """Wait for the caches, win the Lease, run the workers; release when told to stop."""
        try:
            with self._lead_scope:
                await self._wait_synced()
                async with anyio.create_task_group() as election:
                    if self._elector is not None:
                        election.start_soon(self._elector.run)
                        await self._elector.wait_leading()
                    _log.info("started_leading")
                    self._leading.set()
                    try:
                        with self._work_scope:
                            async with anyio.create_task_group() as work:
                                for controller in self.controllers:
                                    controller.started_leading()
                                    workers = Workers(
                                        controller.name,
                                        controller.queue,
                                        controller.reconcile,
                                        concurrency=controller.concurrency,
                                        clock=self._clock,
                                    )
                                    self._workers.append(workers)
                                    work.start_soon(workers.run)
                                # Lead until told to stop, with or without controllers; the
                                # group then waits for the workers to finish their keys.
                                await self._stop_requested.wait()
                                self._stop_workers()
                    finally:
                        self._work_done.set()
                    # Workers are gone: cancelling the election now makes the elector release
                    # the Lease, which must never happen while a reconcile may still act.
                    election.cancel_scope.cancel()
        finally:
            self._lead_done.set()

    async def _wait_synced(self) -> None:
        with _collector_paused():
            await self._wait_all_synced()

    async def _wait_all_synced(self) -> None:
        clock = self._clock
        started = clock.now()
        synced = anyio.Event()
        async with anyio.create_task_group() as waiting:

            async def all_synced() -> None:
                for informer in self._informers:
                    await informer.wait_synced()
                synced.set()

            waiting.start_soon(all_synced)
            while not await wait_event_until(
                clock, synced, clock.now() + self._sync_warning_interval
            ):
                pending = sum(1 for informer in self._informers if not informer.has_synced())
                _log.warning(
                    "caches_not_synced",
                    pending=pending,
                    informers=len(self._informers),
                    waited_seconds=round(clock.now() - started, 1),
                )
        _log.info("caches_synced", informers=len(self._informers))

    def _stop_workers(self) -> None:
        for workers in self._workers:
            workers.stop()
        for controller in self.controllers:
            controller.queue.shut_down()

    async def _shut_down(self) -> int:
        code = EXIT_OK
        self.health.start_shutdown()
        _log.info("shutdown_started", readiness="failing")
        self._stop_workers()
        clock = self._clock
        if self._leading.is_set():
            if not await wait_event_until(clock, self._work_done, clock.now() + self._grace):
                busy = sum(w.active for w in self._workers)
                _log.error(
                    "shutdown_grace_exceeded", grace_seconds=self._grace, reconciles_cancelled=busy
                )
                code = EXIT_GRACE_EXCEEDED
                self._work_scope.cancel()
            else:
                _log.info("workers_stopped")
        else:
            # Not leading (still syncing or campaigning): nothing to finish, nothing to release
            # unless the Lease is won in this instant, which the elector's cancel path handles.
            self._lead_scope.cancel()
        if not await wait_event_until(clock, self._lead_done, clock.now() + RELEASE_BUDGET):
            _log.error("lease_release_timed_out", budget_seconds=RELEASE_BUDGET)
            self._lead_scope.cancel()
        return code


START_GC_THRESHOLD: Final = 1_000_000
"""Allocations between two young-generation collections while the first lists load (Python's
default is 700)."""


@contextmanager
def _collector_paused(threshold: int = START_GC_THRESHOLD) -> Iterator[None]:
    """The cyclic garbage collector held back while the first lists load, and what they loaded
    kept out of its later passes.

    The initial lists decode hundreds of thousands of dicts into views that stay cached; every
    collection those allocations set off rescanned the growing cache (a 100,000-pod start spent
    more time collecting than decoding). The views hold no reference cycles, so reference
    counting frees them when replaced; ``gc.freeze()`` leaves them out of later collections.
    The collector is slowed rather than switched off: a start that cannot sync (an API server
    away for hours) keeps retrying, and the cycles its failed requests leave (exceptions and
    their tracebacks) are still collected, so its memory stays bounded.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(threshold, *thresholds[1:])
    try:
        yield
        gc.freeze()
    finally:
        gc.set_threshold(*thresholds)


def _lease_namespace(settings: Settings) -> str:
    return settings.lease_namespace or in_cluster_namespace()


async def serve(settings: Settings, controllers: ControllerFactory = no_controllers) -> int:
    """Build the real components from ``settings`` and run the daemon until it stops."""
    try:
        api = await api_client_from_settings(settings)
    except TerminalError as err:
        _log.error("startup_failed", reason=err.reason, error=str(err))
        return EXIT_CONFIG
    try:
        kube = KubeClient(api)
        health = Health()
        endpoints = HttpEndpoints(
            health, probe_addr=settings.probe_addr, metrics_addr=settings.metrics_addr
        )
        elector = None
        if settings.leader_elect:
            elector = LeaderElector(
                kube,
                ElectionConfig(
                    name=settings.lease_name,
                    namespace=_lease_namespace(settings),
                    identity=default_identity(),
                    lease_duration=settings.lease_duration,
                    renew_deadline=settings.renew_deadline,
                    retry_period=settings.retry_period,
                ),
            )
        async with controllers(settings, kube) as built:
            try:
                webhook = webhook_server(settings, built)
            except TerminalError as err:
                _log.error("startup_failed", reason=err.reason, error=str(err))
                return EXIT_CONFIG
            daemon = Daemon(
                servers=() if webhook is None else (webhook,),
                controllers=built,
                elector=elector,
                health=health,
                endpoints=endpoints,
                grace_period=settings.shutdown_grace_period,
            )
            return await daemon.run()
    finally:
        with anyio.CancelScope(shield=True):
            await api.close()


def main(settings: Settings, controllers: ControllerFactory = no_controllers) -> int:
    """The ``lbc run`` entry point: configure logs, say hello, run, return the exit code."""
    configure(settings.log_level, settings.log_format)
    set_build_info(__version__)
    _log.info("lbc_starting", version=__version__, settings=redact(settings.model_dump()))
    return anyio.run(serve, settings, controllers)
