"""The daemon's lifecycle, in order, with fake informers, elector and controller.

The fakes record every step into one journal so the tests can assert the *order* the module
docstring of ``lbc.app`` promises: readiness fails → no new work → in-flight reconciles finish
→ Lease released → exit 0.
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import aiohttp
import anyio
import pytest
from lbc.app import (
    CACHE_SYNC_WARNING,
    EXIT_FORCED,
    EXIT_GRACE_EXCEEDED,
    EXIT_LEADERSHIP_LOST,
    EXIT_OK,
    Daemon,
    Informer,
    _collector_paused,
)
from lbc.clock import Clock, VirtualClock
from lbc.control.worker import Result
from lbc.control.workqueue import WorkQueue
from lbc.kube.lease import LeaderElectionLostError
from lbc.observe.probes import Health, HttpEndpoints
from structlog.testing import capture_logs

_names = itertools.count()
TIMEOUT = aiohttp.ClientTimeout(total=5)


class FakeInformer:
    def __init__(self, journal: list[str], name: str) -> None:
        self.journal = journal
        self.name = name
        self.synced = anyio.Event()
        self.allow_sync = anyio.Event()
        self.age = 0.0

    async def run(self) -> None:
        self.journal.append(f"{self.name}:listing")
        await self.allow_sync.wait()
        self.synced.set()
        await anyio.sleep_forever()

    def has_synced(self) -> bool:
        return self.synced.is_set()

    async def wait_synced(self) -> None:
        await self.synced.wait()

    def last_event_age(self) -> float:
        return self.age


class FakeElector:
    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.grant = anyio.Event()
        self.lose = anyio.Event()
        self.leading = anyio.Event()
        self.campaigning = anyio.Event()

    async def run(self) -> NoReturn:
        self.campaigning.set()
        self.journal.append("campaign")
        try:
            await self.grant.wait()
            self.leading.set()
            self.journal.append("leading")
            await self.lose.wait()
            self.journal.append("lost")
            raise LeaderElectionLostError("renew deadline passed")
        except anyio.get_cancelled_exc_class():
            if self.leading.is_set() and not self.lose.is_set():
                self.journal.append("released")
            raise

    async def wait_leading(self) -> None:
        await self.leading.wait()

    def healthy(self, tolerance: float = 5.0) -> bool:
        del tolerance
        return True


@dataclass
class FakeController:
    journal: list[str]
    keys: Sequence[str] = ("ns/a",)
    concurrency: int = 2
    name: str = field(default_factory=lambda: f"fake{next(_names)}")
    gate: anyio.Event = field(default_factory=anyio.Event)
    reconciling: anyio.Event = field(default_factory=anyio.Event)
    informers: list[Informer] = field(default_factory=list)
    queue: WorkQueue[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.name)

    async def reconcile(self, key: Any) -> Result | None:
        self.journal.append(f"reconcile:{key}:start")
        self.reconciling.set()
        try:
            await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.journal.append(f"reconcile:{key}:cancelled")
            raise
        self.journal.append(f"reconcile:{key}:end")
        return None

    def started_leading(self) -> None:
        self.journal.append("started_leading")
        for key in self.keys:
            self.queue.add(key)


@dataclass
class World:
    journal: list[str]
    informer: FakeInformer
    elector: FakeElector
    controller: FakeController
    health: Health
    daemon: Daemon
    exit_code: list[int] = field(default_factory=list)


def build(
    *,
    grace: float = 5.0,
    concurrency: int = 1,
    keys: Sequence[str] = ("ns/a",),
    clock: Clock | None = None,
    elected: bool = True,
    controlled: bool = True,
) -> World:
    """A daemon of fakes; ``elected=False``: no leader election; ``controlled=False``: none."""
    journal: list[str] = []
    informer = FakeInformer(journal, "tgb")
    elector = FakeElector(journal)
    controller = FakeController(journal, keys=keys, concurrency=concurrency)
    controller.informers.append(informer)
    health = Health()
    endpoints = HttpEndpoints(health, probe_addr="127.0.0.1:0", metrics_addr="127.0.0.1:0")
    daemon = Daemon(
        controllers=[controller] if controlled else [],
        elector=elector if elected else None,
        health=health,
        endpoints=endpoints,
        grace_period=grace,
        handle_signals=False,
        clock=clock,
    )
    return World(journal, informer, elector, controller, health, daemon)


async def run_daemon(world: World) -> None:
    world.exit_code.append(await world.daemon.run())


@asynccontextmanager
async def running(world: World) -> AsyncIterator[None]:
    """The world's daemon running in a task group for the block; ten seconds at most in all."""
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_daemon, world)
            yield


async def get_status(port: int, path: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status


async def test_graceful_shutdown_finishes_work_before_releasing_the_lease() -> None:
    world = build(keys=("ns/a", "ns/b"), concurrency=1)
    async with running(world):
        world.informer.allow_sync.set()
        await world.elector.campaigning.wait()
        world.elector.grant.set()
        await world.controller.reconciling.wait()
        assert world.health.is_ready()

        world.daemon.request_shutdown()
        await anyio.wait_all_tasks_blocked()
        assert not world.health.is_ready(), "readiness must fail as soon as shutdown starts"
        assert "released" not in world.journal, "released the Lease during a reconcile"
        world.controller.gate.set()
    assert world.exit_code == [EXIT_OK]
    assert world.journal.index("reconcile:ns/a:end") < world.journal.index("released")
    assert "reconcile:ns/b:start" not in world.journal, "started new work after shutdown"


async def test_reconciles_outliving_the_grace_period_are_cancelled_and_exit_non_zero() -> None:
    clock = VirtualClock()
    world = build(grace=20.0, clock=clock)
    async with running(world):
        world.informer.allow_sync.set()
        world.elector.grant.set()
        await world.controller.reconciling.wait()
        world.daemon.request_shutdown()
        await clock.advance(19.9)
        assert world.exit_code == [], "cancelled before the grace period ran out"
        assert "reconcile:ns/a:cancelled" not in world.journal
        await clock.advance(0.1)
    assert world.exit_code == [EXIT_GRACE_EXCEEDED]
    assert world.journal.index("reconcile:ns/a:cancelled") < world.journal.index("released")


async def test_losing_the_lease_cancels_reconciles_at_once_and_exits_non_zero() -> None:
    world = build(grace=60.0)
    async with running(world):
        world.informer.allow_sync.set()
        world.elector.grant.set()
        await world.controller.reconciling.wait()
        world.elector.lose.set()
    assert world.exit_code == [EXIT_LEADERSHIP_LOST]
    assert "reconcile:ns/a:cancelled" in world.journal
    assert "released" not in world.journal


async def test_a_replica_campaigns_only_after_its_caches_synced() -> None:
    world = build()
    async with running(world):
        await anyio.wait_all_tasks_blocked()
        assert world.journal == ["tgb:listing"]
        assert not world.health.is_ready()
        world.informer.allow_sync.set()
        await world.elector.campaigning.wait()
        assert world.health.is_ready()
        world.daemon.request_shutdown()
    assert world.exit_code == [EXIT_OK]


async def test_a_standby_is_ready_and_does_not_reconcile() -> None:
    world = build()
    async with running(world):
        world.informer.allow_sync.set()
        await world.elector.campaigning.wait()
        world.controller.queue.add("ns/changed")  # a watch event on a standby
        await anyio.wait_all_tasks_blocked()
        assert world.health.is_ready()
        assert not world.daemon.leading
        assert not any(step.startswith("reconcile") for step in world.journal)
        world.daemon.request_shutdown()
    assert world.exit_code == [EXIT_OK]
    assert "released" not in world.journal


async def test_probes_answer_over_http_through_the_lifecycle() -> None:
    world = build()
    async with running(world):
        while not world.daemon.endpoints.probe_port:
            await anyio.wait_all_tasks_blocked()
        port = world.daemon.endpoints.probe_port
        assert await get_status(port, "/healthz") == 200
        assert await get_status(port, "/readyz") == 500
        world.informer.allow_sync.set()
        await world.elector.campaigning.wait()
        assert await get_status(port, "/readyz") == 200
        metrics = world.daemon.endpoints.metrics_port
        assert await get_status(metrics, "/metrics") == 200
        world.elector.grant.set()
        await world.controller.reconciling.wait()
        world.daemon.request_shutdown()
        assert await get_status(port, "/readyz") == 500, "ready while shutting down"
        assert await get_status(port, "/healthz") == 200
        world.controller.gate.set()
    assert world.exit_code == [EXIT_OK]
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_status(port, "/healthz")


async def test_a_silent_watch_fails_liveness() -> None:
    world = build()
    async with running(world):
        world.informer.allow_sync.set()
        await world.elector.campaigning.wait()
        assert world.health.is_live()
        world.informer.age = 301.0
        assert not world.health.is_live()
        world.daemon.request_shutdown()


async def test_without_leader_election_the_replica_works_once_synced() -> None:
    world = build(concurrency=2, elected=False)
    world.controller.gate.set()
    async with running(world):
        world.informer.allow_sync.set()
        await world.daemon.wait_leading()
        await world.controller.reconciling.wait()
        world.daemon.request_shutdown()
    assert world.exit_code == [EXIT_OK]
    assert "reconcile:ns/a:end" in world.journal


async def test_a_leader_without_controllers_holds_the_lease_until_shutdown() -> None:
    world = build(controlled=False)
    async with running(world):
        world.elector.grant.set()
        await world.daemon.wait_leading()
        await anyio.wait_all_tasks_blocked()
        assert world.journal == ["campaign", "leading"], "gave the Lease up while still running"
        world.daemon.request_shutdown()
    assert world.exit_code == [EXIT_OK]
    assert world.journal == ["campaign", "leading", "released"]


async def test_a_second_signal_cancels_the_graceful_shutdown() -> None:
    world = build(grace=60.0)
    world.daemon._handle_signals = True
    async with running(world):
        world.informer.allow_sync.set()
        world.elector.grant.set()
        await world.controller.reconciling.wait()
        await anyio.wait_all_tasks_blocked()  # the signal receiver is installed
        os.kill(os.getpid(), signal.SIGTERM)
        while world.health.is_ready():
            await anyio.wait_all_tasks_blocked()
        assert "reconcile:ns/a:cancelled" not in world.journal, "the first signal forced"
        os.kill(os.getpid(), signal.SIGINT)
    assert world.exit_code == [EXIT_FORCED]
    assert "reconcile:ns/a:cancelled" in world.journal


async def test_a_replica_waiting_for_its_caches_says_so_until_they_sync() -> None:
    clock = VirtualClock()
    world = build(clock=clock)
    with capture_logs() as logs, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_daemon, world)
            await clock.advance(CACHE_SYNC_WARNING - 1.0)
            assert not any(e["event"] == "caches_not_synced" for e in logs), "warned early"
            await clock.advance(2 * CACHE_SYNC_WARNING)
            warnings = [e for e in logs if e["event"] == "caches_not_synced"]
            assert [w["waited_seconds"] for w in warnings] == [
                CACHE_SYNC_WARNING,
                2 * CACHE_SYNC_WARNING,
            ]
            world.informer.allow_sync.set()
            await world.elector.campaigning.wait()
            world.daemon.request_shutdown()
    warning = next(e for e in logs if e["event"] == "caches_not_synced")
    assert (warning["pending"], warning["informers"]) == (1, 1)
    assert warning["log_level"] == "warning"
    assert any(e["event"] == "caches_synced" for e in logs)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_the_collector_is_slowed_while_caches_load_and_their_objects_frozen_after() -> None:
    gc.unfreeze()  # what earlier daemons of this process froze
    before = gc.get_threshold()
    loaded = [[n] for n in range(1000)]  # lists: objects the collector tracks
    with _collector_paused(threshold=50):
        # Slowed, not off: the cycles a start that cannot sync leaves behind (failed requests,
        # their tracebacks) are still collected, so a long outage does not grow memory.
        assert gc.isenabled()
        assert gc.get_threshold()[0] == 50
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        for _ in range(40):  # allocations past the threshold set off collections
            [Node() for _ in range(50)]
        assert gone() is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() >= len(loaded)
    gc.unfreeze()


def test_the_collector_thresholds_come_back_when_the_start_fails() -> None:
    before = gc.get_threshold()
    seen: list[int] = []

    def failing_start() -> None:
        with _collector_paused():
            seen.append(gc.get_threshold()[0])
            raise RuntimeError("cannot sync")

    with pytest.raises(RuntimeError):
        failing_start()
    assert seen == [1_000_000]
    assert gc.get_threshold() == before
