"""The informer against an in-memory list/watch source: no delete is ever missed.

The fake source keeps objects and an event log with resourceVersions, and lets a test expire
history (410), break streams, or go silent. Time is virtual (:class:`~lbc.clock.VirtualClock`):
backoff waits, resync periods and the watchdog run without any real waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from hypothesis import given, strategies as st
from lbc.backoff import Backoff
from lbc.clock import VirtualClock
from lbc.core.errors import NotFoundError, TransientError
from lbc.kube.client import PODS, ExpiredError, KubeClient, Resource, WatchEvent
from lbc.kube.informer import (
    REFLECTOR_BACKOFF,
    REFLECTOR_RESET,
    EventHandlers,
    Informer,
    Store,
    namespace_index,
)


@dataclass(frozen=True, slots=True)
class Slim:
    namespace: str
    name: str
    ip: str
    node: str


def project(obj: dict[str, Any]) -> Slim:
    meta = obj["metadata"]
    return Slim(meta["namespace"], meta["name"], obj["status"]["podIP"], obj["spec"]["nodeName"])


def pod(name: str, ip: str, node: str = "n1", ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": node},
        "status": {"podIP": ip},
    }


class FakeSource:
    """Objects, an event log, and scripted watch behaviour (a stand-in for the API server)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.rv = 100
        self.oldest_watchable = 0
        self.changed = asyncio.Condition()
        self.watch_script: deque[str] = deque()
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.list_failures: deque[Exception] = deque()
        self.close_streams = 0
        self.partitioned = False
        self.batches: list[int] = []

    async def _bump(self, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.log.append((self.rv, kind, obj))
        async with self.changed:
            self.changed.notify_all()

    async def put(self, obj: dict[str, Any]) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        await self._bump("MODIFIED" if key in self.objects else "ADDED", obj)

    async def delete(self, name: str, ns: str = "default") -> None:
        await self._bump("DELETED", self.objects[f"{ns}/{name}"])

    def compact(self) -> None:
        """Forget history: any watch from an older resourceVersion now gets 410."""
        self.oldest_watchable = self.rv

    async def bookmark(self) -> None:
        """A BOOKMARK on the open streams (the API server's sign of life)."""
        self.rv += 1
        self.log.append((self.rv, "BOOKMARK", {"metadata": {"resourceVersion": str(self.rv)}}))
        async with self.changed:
            self.changed.notify_all()

    async def end_streams(self) -> None:
        self.close_streams += 1
        async with self.changed:
            self.changed.notify_all()

    async def list(self, resource: Resource, namespace: str | None = None, **kw: Any):
        self.list_calls.append(kw)
        if self.list_failures:
            raise self.list_failures.popleft()
        items = sorted(self.objects.items())
        limit = kw.get("limit")
        start = int(kw.get("continue_token") or 0)
        chunk = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
        return {"items": [o for _k, o in chunk], "metadata": meta}

    async def watch_batches(
        self, resource: Resource, namespace: str | None = None, **kw: Any
    ) -> AsyncGenerator[Iterator[WatchEvent], None]:
        """Every event logged since the last batch, as one batch (a chunk of the stream)."""
        self.watch_calls.append(kw)
        action = self.watch_script.popleft() if self.watch_script else "live"
        if action == "broken":
            raise TransientError("connection reset", reason="ConnectionError")
        if action == "silent":
            await asyncio.Event().wait()
        if action == "empty":
            return
        since = int(kw["resource_version"])
        if since < self.oldest_watchable:
            raise ExpiredError("too old resource version")
        closes = self.close_streams
        sent = since
        while True:
            if self.close_streams != closes:
                return
            batch = []
            for rv, kind, obj in self.log:
                if rv > sent and not self.partitioned:
                    sent = rv
                    batch.append(WatchEvent(kind, obj))
            if batch:
                self.batches.append(len(batch))
                yield iter(batch)
            async with self.changed:
                await self.changed.wait()


class Recorder:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[tuple[str, Slim, Slim]] = []
        self.deleted: list[tuple[str, Slim]] = []

    def handlers(self) -> EventHandlers[Slim]:
        return EventHandlers(
            on_add=lambda k, _v: self.added.append(k),
            on_update=lambda k, o, n: self.updated.append((k, o, n)),
            on_delete=lambda k, o: self.deleted.append((k, o)),
        )


class RecordingBackoff(Backoff):
    """The reflector's backoff, remembering every wait it asked for."""

    def __init__(self) -> None:
        super().__init__(REFLECTOR_BACKOFF, reset_after=REFLECTOR_RESET, rng=random.Random(7))
        self.waits: list[float] = []

    def delay(self, now: float) -> float:
        wait = super().delay(now)
        self.waits.append(wait)
        return wait


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


async def settle_until(
    clock: VirtualClock, predicate: Callable[[], bool], rounds: int = 200
) -> None:
    """Let the tasks run, moving virtual time only when nothing else can make progress.

    Not a poll in real time (that is ``lbc_lab.scenario.eventually``): it needs no deadline in
    seconds, ``rounds`` jumps of the clock bound it.
    """
    for _ in range(rounds):
        for _ in range(10):
            if predicate():
                return
            await clock.settle()
        await clock.advance_to_next()
    assert predicate(), "condition never held"


def make(
    source: FakeSource, clock: VirtualClock, **kw: Any
) -> tuple[Informer[Slim], Recorder, RecordingBackoff]:
    backoff = RecordingBackoff()
    informer = Informer(
        cast(KubeClient, source),
        PODS,
        project,
        clock=clock,
        backoff=backoff,
        rng=random.Random(7),
        indexers={"node": lambda v: (v.node,)},
        **kw,
    )
    recorder = Recorder()
    informer.add_handlers(recorder.handlers())
    return informer, recorder, backoff


@pytest.fixture
async def running():
    tasks: list[asyncio.Task[None]] = []

    def start(informer: Informer[Slim]) -> None:
        tasks.append(asyncio.create_task(informer.run()))

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_initial_list_uses_resource_version_zero_and_marks_synced(running, clock):
    source = FakeSource()
    await source.put(pod("a", "10.0.0.1"))
    informer, recorder, _ = make(source, clock)
    assert not informer.has_synced()
    await synced(running, clock, informer)
    assert source.list_calls[0]["resource_version"] == "0"
    assert recorder.added == ["default/a"]
    assert informer.store.get("default/a") == Slim("default", "a", "10.0.0.1", "n1")


async def paged_source(pods: int) -> FakeSource:
    source = FakeSource()
    for i in range(pods):
        await source.put(pod(f"p{i}", f"10.0.0.{i}"))
    return source


async def synced(running, clock: VirtualClock, informer: Informer[Slim]) -> None:
    running(informer)
    await settle_until(clock, informer.has_synced)


async def test_every_list_hands_the_freed_heap_back_once_its_pages_are_gone(
    running, clock, monkeypatch
):
    lists_at_release: list[int] = []
    monkeypatch.setattr(
        "lbc.kube.informer.release_free_memory",
        lambda: lists_at_release.append(len(source.list_calls)) or True,
    )
    source = await paged_source(5)
    await synced(running, clock, make(source, clock, page_size=2)[0])
    assert lists_at_release == [3], "once, after the last of the three pages"
    source.partitioned = True  # a change the informer misses, then history is compacted: 410
    await source.put(pod("p5", "10.0.0.5"))
    source.compact()
    source.partitioned = False
    await source.end_streams()
    await settle_until(clock, lambda: len(lists_at_release) == 2)
    assert lists_at_release == [3, 6], "and once after the relist"


async def test_paginated_list_follows_continue_tokens(running, clock):
    source = await paged_source(7)
    informer, recorder, _ = make(source, clock, page_size=3)
    await synced(running, clock, informer)
    assert len(source.list_calls) == 3
    assert [c["continue_token"] for c in source.list_calls] == [None, "3", "6"]
    assert source.list_calls[1]["resource_version"] is None
    assert sorted(recorder.added) == [f"default/p{i}" for i in range(7)]


async def test_watch_delivers_adds_updates_and_deletes_and_keeps_indexes(running, clock):
    source = FakeSource()
    informer, recorder, _ = make(source, clock)
    await synced(running, clock, informer)
    await source.put(pod("a", "10.0.0.1", node="n1"))
    await settle_until(clock, lambda: "default/a" in informer.store)
    await source.put(pod("a", "10.0.0.1", node="n2"))
    await settle_until(clock, lambda: len(recorder.updated) == 1)
    assert informer.store.index_keys("node", "n2") == frozenset({"default/a"})
    assert informer.store.index_keys("node", "n1") == frozenset()
    await source.delete("a")
    await settle_until(clock, lambda: len(recorder.deleted) == 1)
    assert recorder.deleted[0][1].node == "n2"
    assert informer.store.index_keys("node", "n2") == frozenset()
    assert informer.resource_version == str(source.rv)


async def test_an_update_that_changes_nothing_the_view_holds_is_not_delivered(running, clock):
    source = FakeSource()
    await source.put(pod("a", "10.0.0.1"))
    informer, recorder, _ = make(source, clock)
    await synced(running, clock, informer)
    cached = informer.store.get("default/a")
    noisy = pod("a", "10.0.0.1")
    noisy["status"]["restartCount"] = 3
    await source.put(noisy)
    await settle_until(clock, lambda: informer.resource_version == str(source.rv))
    assert recorder.updated == []
    assert informer.store.get("default/a") is cached, "an equal view is not stored again"


async def test_the_events_of_one_received_batch_are_applied_in_order(running, clock):
    source = FakeSource()
    for name in ("a", "b", "c"):
        await source.put(pod(name, "10.0.0.1"))
    informer, recorder, _ = make(source, clock)
    running(informer)
    await settle_until(clock, lambda: len(source.watch_calls) == 1)
    unchanged = informer.store.get("default/c")
    # Held back, then sent together: the informer receives them as one batch.
    source.partitioned = True
    await source.put(pod("a", "10.0.0.1", node="n2"))
    await source.put(pod("a", "10.0.0.1", node="n3"))
    await source.delete("b")
    await source.put(pod("c", "10.0.0.1"))
    await source.put(pod("d", "10.0.0.4"))
    await source.bookmark()
    last = source.rv
    source.partitioned = False
    await source.bookmark()
    await settle_until(clock, lambda: informer.resource_version == str(source.rv))
    assert source.batches[-1] == 7
    assert [(k, o.node, n.node) for k, o, n in recorder.updated] == [
        ("default/a", "n1", "n2"),
        ("default/a", "n2", "n3"),
    ]
    assert [k for k, _v in recorder.deleted] == ["default/b"]
    assert recorder.added[-1] == "default/d"
    assert informer.store.get("default/c") is unchanged
    assert informer.store.index_keys("node", "n3") == frozenset({"default/a"})
    assert informer.store.index_keys("node", "n1") == frozenset({"default/c", "default/d"})
    assert int(informer.resource_version) == last + 1
    assert informer.event_counts == {"ADDED": 1, "MODIFIED": 3, "DELETED": 1, "BOOKMARK": 2}


async def test_deletes_missed_during_a_410_are_reported_after_relist(running, clock):
    source = FakeSource()
    for name in ("a", "b", "c"):
        await source.put(pod(name, "10.0.0.1"))
    informer, recorder, _ = make(source, clock)
    await synced(running, clock, informer)
    await settle_until(clock, lambda: len(source.watch_calls) == 1)
    # The network partitions: b is deleted, c changes and d appears while nothing reaches the
    # informer; the server compacts its history; then the stream drops, so the rewatch from the
    # old resourceVersion gets 410.
    source.partitioned = True
    await source.delete("b")
    await source.put(pod("c", "10.0.0.9"))
    await source.put(pod("d", "10.0.0.4"))
    source.compact()
    source.partitioned = False
    source.watch_script.append("broken")
    await source.end_streams()
    await settle_until(clock, lambda: len(source.list_calls) == 2)
    await settle_until(clock, lambda: len(recorder.deleted) == 1)
    assert recorder.deleted[0][0] == "default/b"
    assert source.list_calls[1]["resource_version"] == ""
    assert [k for k, _o, _n in recorder.updated] == ["default/c"]
    assert "default/d" in recorder.added
    assert sorted(informer.store.keys()) == ["default/a", "default/c", "default/d"]


async def test_a_clean_stream_end_rewatches_from_the_last_resource_version(running, clock):
    source = FakeSource()
    informer, _recorder, backoff = make(source, clock)
    await synced(running, clock, informer)
    await source.put(pod("a", "10.0.0.1"))
    await settle_until(clock, lambda: "default/a" in informer.store)
    await source.end_streams()
    await settle_until(clock, lambda: len(source.watch_calls) == 2)
    assert source.watch_calls[1]["resource_version"] == str(source.rv)
    assert len(source.list_calls) == 1
    assert backoff.waits == []
    assert 300 <= source.watch_calls[0]["timeout_seconds"] <= 600
    assert source.watch_calls[0]["allow_bookmarks"] is True


@pytest.mark.parametrize(
    ("stream", "streams"),
    [("broken", 4), ("empty", 3)],  # "empty": ends at once without an event
)
async def test_failed_streams_back_off_with_growing_jittered_waits(running, clock, stream, streams):
    source = FakeSource()
    source.watch_script.extend([stream] * streams)
    informer, _recorder, backoff = make(source, clock)
    running(informer)
    await settle_until(clock, lambda: len(source.watch_calls) == streams + 1)
    assert len(backoff.waits) == streams
    for wait, nominal in zip(backoff.waits, (0.8, 1.6, 3.2, 6.4)[:streams], strict=True):
        assert nominal <= wait <= 2 * nominal
    assert len(source.list_calls) == 1


async def test_a_silent_stream_is_abandoned_by_the_watchdog(running, clock):
    source = FakeSource()
    source.watch_script.append("silent")
    informer, _recorder, _backoff = make(source, clock, inactivity_timeout=0.05)
    running(informer)
    await settle_until(clock, lambda: len(source.watch_calls) == 2)
    await source.put(pod("a", "10.0.0.1"))
    await settle_until(clock, lambda: "default/a" in informer.store)


async def test_a_failing_list_is_retried_with_backoff_until_it_succeeds(running, clock):
    source = FakeSource()
    source.list_failures.extend([NotFoundError("no such resource"), TransientError("503")])
    informer, _recorder, backoff = make(source, clock)
    await synced(running, clock, informer)
    assert len(source.list_calls) == 3
    assert len(backoff.waits) == 2


async def test_resync_replays_the_cache_as_same_object_updates(running, clock):
    source = FakeSource()
    await source.put(pod("a", "10.0.0.1"))
    informer, recorder, _backoff = make(source, clock, resync_period=10.0)
    await synced(running, clock, informer)
    synced_at = clock.now()
    await settle_until(clock, lambda: len(recorder.updated) >= 1)
    key, old, new = recorder.updated[0]
    assert key == "default/a"
    assert old is new
    assert 9.0 <= clock.now() - synced_at <= 11.0


async def test_a_quiet_stream_is_kept_while_it_hears_bookmarks_and_dropped_once_silent(
    running, clock
):
    source = FakeSource()
    informer, _recorder, backoff = make(source, clock, inactivity_timeout=90.0)
    running(informer)
    await settle_until(clock, lambda: len(source.watch_calls) == 1)
    for _ in range(5):  # a bookmark every 60 s keeps the stream
        await clock.advance(60.0)
        await source.bookmark()
        await clock.settle()
    assert len(source.watch_calls) == 1
    assert informer.last_event_age() < 1.0
    await clock.advance(89.0)
    await clock.settle()
    assert len(source.watch_calls) == 1, "abandoned before inactivity_timeout"
    await clock.advance(1.0)
    await settle_until(clock, lambda: len(source.watch_calls) == 2)
    assert backoff.waits == [], "a silent stream is re-opened at once, not backed off"
    assert len(source.list_calls) == 1


async def test_handlers_added_late_see_the_cached_objects(running, clock):
    source = FakeSource()
    await source.put(pod("a", "10.0.0.1"))
    informer, _recorder, _ = make(source, clock)
    await synced(running, clock, informer)
    late = Recorder()
    informer.add_handlers(late.handlers())
    assert late.added == ["default/a"]


def test_store_indexes_follow_every_change():
    store: Store[Slim] = Store({"node": lambda v: (v.node,)})
    store.add_indexer("namespace", namespace_index)
    store.put("ns/a", Slim("ns", "a", "1", "n1"))
    store.put("ns/b", Slim("ns", "b", "2", "n1"))
    store.put("ns/a", Slim("ns", "a", "1", "n2"))
    assert store.index_keys("node", "n1") == frozenset({"ns/b"})
    assert [v.name for v in store.by_index("node", "n2")] == ["a"]
    assert store.index_keys("namespace", "ns") == frozenset({"ns/a", "ns/b"})
    store.remove("ns/b")
    assert store.index_keys("node", "n1") == frozenset()
    assert store.by_index("namespace", "ns") == [Slim("ns", "a", "1", "n2")]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),  # key
            st.one_of(st.none(), st.sampled_from(["n1", "n2", "n3"])),  # None: remove
        ),
        max_size=40,
    )
)
def test_store_indexes_hold_exactly_the_keys_of_the_current_views(ops):
    store: Store[Slim] = Store({"node": lambda v: (v.node,), "ns": namespace_index})
    for key, node in ops:
        if node is None:
            store.remove(key)
        else:
            store.put(key, Slim("ns", key, "1", node))
    for node in ("n1", "n2", "n3"):
        expected = {k for k, v in store.items() if v.node == node}
        assert store.index_keys("node", node) == expected
        assert sorted(v.name for v in store.by_index("node", node)) == sorted(expected)
    assert store.index_keys("ns", "ns") == set(store.keys())
    # No value is left behind with an empty key set (an index must not grow with churn).
    assert all(store._indices["node"].values())
