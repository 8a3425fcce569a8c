"""Informers: a cache of slim views kept current by list + watch, with indexes and handlers.

Why our own (client-go's reflector, store and shared informer, in one asyncio task): the
controller must never miss a delete. A watch that drops, or falls so far behind that the server
answers 410 Gone, loses events; only a relist compared against a cache recovers them. So:

- **List** with ``resourceVersion="0"`` the first time (the server may answer from its watch
  cache), paginated with ``limit``/``continue`` when ``page_size`` is set. Relists after a 410
  use ``resourceVersion=""`` (a consistent read), so the cache never travels back in time.
- **Replace**: the new list is diffed against the cache. Objects that vanished are reported to
  ``on_delete`` (client-go's ``DeletedFinalStateUnknown``: the view is the last one seen),
  changed ones to ``on_update``, new ones to ``on_add``.
- **Watch** from the list's resourceVersion with bookmarks and a ``timeoutSeconds`` drawn from
  300-600 s (spreads reconnect load); every event, bookmarks included, advances the stored RV.
  A stream that ends cleanly is re-opened at once from the last RV; a failed one after a backoff
  of 0.8 s doubling to 30 s, each wait jittered to d..2d, reset after 2 minutes without failure.
- **Watchdog**: a stream silent for ``inactivity_timeout`` (bookmarks count as life) is
  abandoned and re-opened; a stalled TCP connection must not leave the controller blind.

Time (backoff waits, resync periods, the watchdog, ``last_event_age``) comes from the injected
:class:`~lbc.clock.Clock`, so all of it is tested in virtual time.
- **Resync** (optional) replays the cache to ``on_update(view, view)``; it is not a relist.

Invariants: the store holds only projections (``project(obj)``), never raw dicts; handlers run
synchronously on the informer's task and must be cheap (they enqueue keys); an update whose
projection equals the cached view is not delivered, because nothing a reconcile reads changed.
``has_synced()`` turns true once the first list is in the store and never turns false.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

import anyio
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from lbc.backoff import Backoff, BackoffPolicy
from lbc.clock import Clock, MonotonicClock
from lbc.core.errors import LbcError, TransientError
from lbc.kube.client import (
    DecodedEvent,
    ExpiredError,
    KubeClient,
    Resource,
    WatchEvent,
    WatchOptions,
)
from lbc.kube.heap import release_free_memory
from lbc.observe.log import get_logger
from lbc.observe.metrics import REGISTRY, counter, gauge, gauge_from

V = TypeVar("V")

IndexFunc = Callable[[V], Iterable[str]]
"""An index function: the index values of one view (client-go ``IndexFunc``)."""

NAMESPACE_INDEX: Final = "namespace"

WATCH_TIMEOUT_RANGE: Final = (300, 600)
LIST_TIMEOUT: Final = 120.0
"""Deadline of one list page: an unpaginated list of 50,000 pods is ~150 MB of JSON."""
VERY_SHORT_WATCH: Final = 1.0
"""Seconds: a stream that ends cleanly sooner, having delivered nothing, counts as a failure."""
DEFAULT_INACTIVITY_TIMEOUT: Final = 90.0
"""Seconds of silence before a stream is presumed dead; API servers bookmark about every 60 s."""
# client-go's reflector backoff: 0.8 s doubling to 30 s, each wait jittered up to +100 %, and back
# to 0.8 s once two minutes passed since the previous failure.
REFLECTOR_BACKOFF: Final = BackoffPolicy(initial=0.8, cap=30.0, factor=2.0, jitter=1.0)
REFLECTOR_RESET: Final = 120.0

log = get_logger("lbc.kube.informer")

_EMPTY: Mapping[str, Any] = {}

_LIVE: weakref.WeakSet[Informer[Any]] = weakref.WeakSet()


class _EventCounts(Collector):
    """``lbc_informer_events_total{resource,type}``, read from the informers at scrape time.

    A plain ``Counter`` takes a lock per increment, which on the watch hot path costs about as
    much as everything else the informer does per event; a dict increment does not.
    """

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "lbc_informer_events",
            "Watch events received by informers, by resource and event type.",
            labels=["resource", "type"],
        )
        totals: dict[tuple[str, str], int] = {}
        for informer in list(_LIVE):
            for kind, count in informer.event_counts.items():
                key = (informer.label, kind)
                totals[key] = totals.get(key, 0) + count
        for (resource, kind), count in sorted(totals.items()):
            family.add_metric([resource, kind], count)
        yield family


REGISTRY.register(_EventCounts())
WATCH_RESTARTS = counter(
    "lbc_informer_watch_restarts_total",
    "Watch streams re-opened, by resource and reason (timeout, silent, error).",
    ["resource", "reason"],
)
RELISTS = counter(
    "lbc_informer_relists_total",
    "Full lists after the initial one, by resource and reason (expired, error).",
    ["resource", "reason"],
)
LAST_EVENT_AGE = gauge(
    "lbc_informer_last_event_age_seconds",
    "Seconds since an informer last heard from the API server (events, bookmarks, lists).",
    ["resource"],
)
OBJECTS = gauge("lbc_informer_objects", "Views held in an informer's store.", ["resource"])


def meta_key(obj: Mapping[str, Any]) -> str:
    """client-go's ``MetaNamespaceKeyFunc``: ``namespace/name``, or ``name`` if cluster-scoped."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def _noop_one(_key: str, _new: Any) -> None:
    return None


def _noop_update(_key: str, _old: Any, _new: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class EventHandlers(Generic[V]):
    """Callbacks for cache changes; each receives the store key and the view(s)."""

    on_add: Callable[[str, V], None] = _noop_one
    on_update: Callable[[str, V, V], None] = _noop_update
    on_delete: Callable[[str, V], None] = _noop_one


class Store(Generic[V]):
    """Views by key, with secondary indexes maintained on every change (client-go's Indexer).

    Invariant: for every index ``name`` and value ``v``, ``index_keys(name, v)`` is exactly the
    set of keys whose current view yields ``v`` under that index function.

    An index value's keys are held as the keys of a dict (values ``None``), not a set: a set
    grows four-fold and stays sparse, measured at 75-105 bytes per key against 21-30 for a
    dict (50,000 keys under 40 or 1,600 values), and an index is paid once per cached object.
    """

    __slots__ = ("_indexers", "_indices", "_items")

    def __init__(self, indexers: Mapping[str, IndexFunc[V]] | None = None) -> None:
        self._items: dict[str, V] = {}
        self._indexers: dict[str, IndexFunc[V]] = dict(indexers or {})
        self._indices: dict[str, dict[str, dict[str, None]]] = {name: {} for name in self._indexers}

    def add_indexer(self, name: str, fn: IndexFunc[V]) -> None:
        if name in self._indexers:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = fn
        index: dict[str, dict[str, None]] = {}
        for key, view in self._items.items():
            for value in fn(view):
                index.setdefault(value, {})[key] = None
        self._indices[name] = index

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[V]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, V]]:
        return list(self._items.items())

    def index_keys(self, name: str, value: str) -> frozenset[str]:
        """Keys whose views carry ``value`` in index ``name`` (``KeyError`` if no such index)."""
        return frozenset(self._indices[name].get(value, ()))

    def by_index(self, name: str, value: str) -> list[V]:
        items = self._items
        return [items[k] for k in self._indices[name].get(value, ())]

    def put(self, key: str, view: V) -> V | None:
        """Store ``view`` under ``key``; returns the view it replaced."""
        old = self._items.get(key)
        self._items[key] = view
        if self._indexers:
            if old is not None:
                self._unindex(key, old)
            self._index(key, view)
        return old

    def remove(self, key: str) -> V | None:
        old = self._items.pop(key, None)
        if old is not None and self._indexers:
            self._unindex(key, old)
        return old

    def _index(self, key: str, view: V) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(view):
                index.setdefault(value, {})[key] = None

    def _unindex(self, key: str, view: V) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(view):
                keys = index.get(value)
                if keys is not None:
                    keys.pop(key, None)
                    if not keys:
                        del index[value]


class _SilentStreamError(Exception):
    """The watchdog's verdict: the stream said nothing for ``inactivity_timeout`` seconds."""


class Informer(Generic[V]):
    """List + watch one resource into a ``Store`` of views; call ``run()`` in a task.

    ``project`` turns a raw object into the view kept in memory; ``key`` names it (default
    ``namespace/name``). ``namespace=None`` watches all namespaces.
    """

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        project: Callable[[dict[str, Any]], V],
        *,
        key: Callable[[dict[str, Any]], str] = meta_key,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc[V]] | None = None,
        page_size: int | None = None,
        resync_period: float = 0.0,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        watch_timeout_range: tuple[int, int] = WATCH_TIMEOUT_RANGE,
        list_timeout: float = LIST_TIMEOUT,
        request_timeout: float | None = None,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        metadata_only: bool = False,
        watch_decode: Callable[[bytes, str], DecodedEvent[V] | WatchEvent] | None = None,
    ) -> None:
        self.resource = resource
        # ``project`` then sees ``metadata`` only: for resources whose bodies lbc never reads
        # from the cache (ledgers are read fresh), the list and watch carry no data at all.
        self._metadata_only = metadata_only
        self.store: Store[V] = Store(indexers)
        self._client = client
        self._project = project
        # Decodes watch lines straight into views (the pods': lbc.kube.podwatch); the list
        # still goes through ``project``, the lines it refuses through ``_apply``.
        self._watch_decode = watch_decode
        self._key = key
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._page_size = page_size
        self._resync_period = resync_period
        self._inactivity = inactivity_timeout
        self._watch_range = watch_timeout_range
        self._list_timeout = list_timeout
        self._request_timeout = request_timeout
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff(
            REFLECTOR_BACKOFF, reset_after=REFLECTOR_RESET, rng=self._rng
        )
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._handlers: list[EventHandlers[V]] = []
        self._synced = anyio.Event()
        self._rv = ""
        self._last_heard = self._clock.now()
        self._label = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        self.event_counts: dict[str, int] = dict.fromkeys(
            ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"), 0
        )
        _LIVE.add(self)
        gauge_from(LAST_EVENT_AGE.labels(self._label), self, Informer.last_event_age)
        gauge_from(OBJECTS.labels(self._label), self, lambda i: float(len(i.store)))

    # ---- public surface -----------------------------------------------------------------------

    def add_handlers(self, handlers: EventHandlers[V]) -> None:
        """Register callbacks; views already cached are replayed to ``on_add`` (client-go)."""
        self._handlers.append(handlers)
        for key, view in self.store.items():
            handlers.on_add(key, view)

    def add_indexer(self, name: str, fn: IndexFunc[V]) -> None:
        self.store.add_indexer(name, fn)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first list is in the store (bound it with a timeout)."""
        await self._synced.wait()

    def last_event_age(self) -> float:
        """Seconds since the API server last said anything to this informer."""
        return max(0.0, self._clock.now() - self._last_heard)

    @property
    def label(self) -> str:
        """The ``resource`` label of this informer's metrics (``plural.group``)."""
        return self._label

    @property
    def resource_version(self) -> str:
        return self._rv

    async def run(self) -> None:
        """List, then watch forever; returns only by cancellation."""
        if self._resync_period > 0:
            async with anyio.create_task_group() as group:
                group.start_soon(self._resync_loop)
                await self._reflect()
        else:
            await self._reflect()

    # ---- reflector ----------------------------------------------------------------------------

    async def _reflect(self) -> None:
        must_list = True
        first = True
        while True:
            try:
                if must_list:
                    await self._list_and_replace("0" if first else "")
                    first = False
                    must_list = False
                await self._watch_once()
                WATCH_RESTARTS.labels(self._label, "timeout").inc()
                continue
            except ExpiredError as exc:
                # A 410 ends the watch: only a relist can tell what was missed. Relist at once
                # unless the list itself just came back 410 (then back off, as for any failure).
                reason, retry_now = "expired", not must_list
                must_list = True
                log.info("informer_relisting", resource=self._label, reason=str(exc))
                RELISTS.labels(self._label, reason).inc()
                if retry_now:
                    continue
            except _SilentStreamError:
                WATCH_RESTARTS.labels(self._label, "silent").inc()
                log.warning("informer_watch_silent", resource=self._label, seconds=self._inactivity)
                continue
            except TransientError as exc:
                WATCH_RESTARTS.labels(self._label, "error").inc()
                log.warning("informer_watch_failed", resource=self._label, error=str(exc))
            except LbcError as exc:
                # Not found (CRD not installed yet), forbidden, invalid selector: none fixes
                # itself quickly, but each may be fixed by an operator; keep trying, slowly.
                if not must_list:
                    RELISTS.labels(self._label, "error").inc()
                must_list = True
                log.error(  # noqa: TRY400 - the classified error says it all; no traceback
                    "informer_list_failed", resource=self._label, error=str(exc)
                )
            await self._sleep(self._backoff.delay(self._clock.now()))

    async def _list_and_replace(self, resource_version: str) -> None:
        fresh, rv = await self._list(resource_version)
        self._heard()
        self._replace(fresh)
        objects = len(fresh)
        # The pages' bodies and parsed objects (freed when ``_list`` returned) and ``fresh``'s
        # table are garbage now; without this their heap stays resident (lbc.kube.heap says how
        # much). Lists are rare: a start and each relist.
        del fresh
        release_free_memory()
        self._rv = rv
        if not self._synced.is_set():
            log.info("informer_synced", resource=self._label, objects=objects)
        self._synced.set()

    async def _list(self, resource_version: str) -> tuple[dict[str, V], str]:
        """Every page of a list, projected: the views by key, and the list's resourceVersion."""
        fresh: dict[str, V] = {}
        continue_token: str | None = None
        rv = ""
        project, key = self._project, self._key
        while True:
            page = await self._client.list(
                self.resource,
                self._namespace,
                label_selector=self._label_selector,
                field_selector=self._field_selector,
                limit=self._page_size,
                continue_token=continue_token,
                resource_version=resource_version if continue_token is None else None,
                timeout=self._list_timeout,
                metadata_only=self._metadata_only,
            )
            for obj in page.get("items") or ():
                fresh[key(obj)] = project(obj)
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            continue_token = meta.get("continue") or None
            if not continue_token:
                return fresh, rv

    def _replace(self, fresh: dict[str, V]) -> None:
        store = self.store
        for key in [k for k in store.keys() if k not in fresh]:  # noqa: SIM118 - copy: store shrinks
            old = store.remove(key)
            if old is not None:
                for h in self._handlers:
                    h.on_delete(key, old)
        for key, view in fresh.items():
            old = store.put(key, view)
            if old is None:
                for h in self._handlers:
                    h.on_add(key, view)
            elif old != view:
                for h in self._handlers:
                    h.on_update(key, old, view)

    async def _watch_once(self) -> None:
        """Follow one watch stream until it ends (or the watchdog finds it silent)."""
        low, high = self._watch_range
        timeout_seconds = self._rng.randint(low, high)
        options: WatchOptions = {
            "resource_version": self._rv,
            "timeout_seconds": timeout_seconds,
            "label_selector": self._label_selector,
            "field_selector": self._field_selector,
            "allow_bookmarks": True,
            "connect_timeout": self._request_timeout,
            "metadata_only": self._metadata_only,
        }
        decode = self._watch_decode
        stream: AsyncGenerator[Iterator[Any], None]
        if decode is None:
            stream = self._client.watch_batches(self.resource, self._namespace, **options)
            apply: Callable[[Any], None] = self._apply
        else:
            stream = self._client.watch_decoded(
                self.resource, self._namespace, decode=decode, **options
            )
            apply = self._apply_decoded
        clock = self._clock
        inactivity = self._inactivity
        opened = last_event = clock.now()
        received = 0
        silent = False
        failure: Exception | None = None
        async with anyio.create_task_group() as group:

            async def watchdog() -> None:
                # Sleeps until the stream's last event is ``inactivity`` old, not once per
                # event: a timer re-armed on every event would cost more than the event.
                nonlocal silent
                while True:
                    deadline = last_event + inactivity
                    if clock.now() >= deadline:
                        silent = True
                        group.cancel_scope.cancel()
                        return
                    await clock.sleep_until(deadline)

            group.start_soon(watchdog)
            try:
                async with aclosing(stream) as batches:
                    async for events in batches:
                        # One reading of the clock per received chunk: its events arrived
                        # together, and the watchdog needs no finer time than that.
                        last_event = self._last_heard = clock.now()
                        for event in events:
                            received += 1
                            apply(event)
            except Exception as exc:  # noqa: BLE001 - re-raised below, outside the task group
                # Raised inside the group it would come out wrapped in an ExceptionGroup.
                failure = exc
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if silent:
            raise _SilentStreamError
        if received == 0 and clock.now() - opened < VERY_SHORT_WATCH:
            # client-go's "very short watch": a server or proxy that ends every stream at once
            # must not be hammered in a tight loop.
            raise TransientError("watch ended at once without events", reason="ShortWatch")

    def _apply(self, event: WatchEvent) -> None:
        """Apply one watch event (the caller records when it was heard).

        Runs for every event of the watch; the usual one is a MODIFIED whose view is unchanged,
        so that path reads the store's dict directly and returns early.
        """
        kind, obj = event
        counts = self.event_counts
        counts[kind] = counts.get(kind, 0) + 1
        meta = obj.get("metadata") or _EMPTY
        if kind in {"MODIFIED", "ADDED"}:
            key = self._key(obj)
            view = self._project(obj)
            old = self.store._items.get(key)  # Store.get, less a Python call per event
            # Most updates change nothing a reconcile reads (a kubelet heartbeat, a field the
            # view leaves out): compare first, and skip the store write and its re-indexing.
            if old is None or old != view:
                self._changed(key, old, view)
        elif kind == "DELETED":
            key = self._key(obj)
            gone = self.store.remove(key)
            if gone is None:
                gone = self._project(obj)
            for h in self._handlers:
                h.on_delete(key, gone)
        elif kind != "BOOKMARK":
            log.warning("informer_unknown_event", resource=self._label, type=kind)
        rv = meta.get("resourceVersion")
        if rv:
            self._rv = rv if type(rv) is str else str(rv)

    def _apply_decoded(self, event: DecodedEvent[V] | WatchEvent) -> None:
        """``_apply`` for an event decoded straight into its view (``watch_decode``)."""
        if isinstance(event, WatchEvent):
            self._apply(event)  # a line the decoder left to the general path
            return
        kind, key, view, rv = event
        counts = self.event_counts
        counts[kind] = counts.get(kind, 0) + 1
        if kind in {"MODIFIED", "ADDED"}:
            old = self.store._items.get(key)
            if old is None or old != view:
                self._changed(key, old, cast(V, view))  # not None: only bookmarks have none
        elif kind == "DELETED":
            gone = self.store.remove(key)
            for h in self._handlers:
                h.on_delete(key, cast(V, view) if gone is None else gone)
        elif kind != "BOOKMARK":
            log.warning("informer_unknown_event", resource=self._label, type=kind)
        if rv:
            self._rv = rv

    def _changed(self, key: str, old: V | None, view: V) -> None:
        self.store.put(key, view)
        if old is None:
            for h in self._handlers:
                h.on_add(key, view)
        else:
            for h in self._handlers:
                h.on_update(key, old, view)

    def _heard(self) -> None:
        self._last_heard = self._clock.now()

    async def _sleep(self, seconds: float) -> None:
        await self._clock.sleep_until(self._clock.now() + seconds)

    async def _resync_loop(self) -> None:
        await self._synced.wait()
        while True:
            # controller-runtime jitters each informer's period by [0.9, 1.1) so that all
            # informers do not replay in the same instant.
            await self._sleep(self._resync_period * (0.9 + 0.2 * self._rng.random()))
            for key, view in self.store.items():
                for h in self._handlers:
                    h.on_update(key, view, view)


def namespace_index(view: Any) -> Iterable[str]:
    """Index function for views with a ``namespace`` attribute (client-go ``NamespaceIndex``)."""
    ns = getattr(view, "namespace", None)
    return (ns,) if ns else ()
