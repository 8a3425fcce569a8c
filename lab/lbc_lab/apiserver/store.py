"""The object store and its event log: one global resourceVersion, a bounded watch history.

Invariants:

- Every write assigns the next resourceVersion and appends exactly one event, so the event
  with resourceVersion ``r`` sits at ``log[r - base]``: a watch resuming from any remembered
  version finds its place in O(1).
- Stored objects are never mutated after they are stored (writers build new dicts). Events,
  list responses and watchers can therefore share them without copying.
- An event is encoded at most once per apiVersion and the bytes are shared by every watcher
  that wants them (watch fan-out is the lab's hot path).
- ``floor``: a watch may resume from resourceVersion ``r`` only if ``r >= floor``; older
  versions were compacted away and get 410 Expired, as etcd compaction does in a real cluster.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

Key = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]


@dataclass(slots=True)
class Event:
    """One change, as the watch stream reports it (``ADDED``/``MODIFIED``/``DELETED``)."""

    rv: int
    type: str
    storage: str
    namespace: str
    obj: Obj
    old: Obj | None
    encoded: dict[str, bytes] = field(default_factory=dict)

    def encode(self, api_version: str, convert: Callable[[Obj], Obj] | None) -> bytes:
        """The JSON line for watchers of ``api_version``, built once and then shared."""
        data = self.encoded.get(api_version)
        if data is None:
            obj = convert(self.obj) if convert is not None else self.obj
            data = orjson.dumps({"type": self.type, "object": obj}) + b"\n"
            self.encoded[api_version] = data
        return data


class Store:
    """Objects by storage key (``plural.group``) and (namespace, name), plus the event log."""

    def __init__(self, history_size: int = 20_000) -> None:
        self.history_size = max(1, history_size)
        self.rv = 0
        self.floor = 0
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._sorted: dict[str, list[Key] | None] = {}
        self._log: list[Event] = []
        self._base = 1  # resourceVersion of _log[0]
        self._changed = asyncio.Event()
        self._armed = False
        #: Bumped to end every open watch stream (a fault: "the connection dropped").
        self.watch_epoch = 0

    # -- reads -------------------------------------------------------------------------------

    def get(self, storage: str, namespace: str, name: str) -> Obj | None:
        bucket = self._objects.get(storage)
        return None if bucket is None else bucket.get((namespace, name))

    def count(self, storage: str) -> int:
        return len(self._objects.get(storage, {}))

    def keys(self, storage: str, namespace: str | None, after: Key | None = None) -> list[Key]:
        """Sorted keys, optionally within one namespace and strictly after ``after``."""
        ordered = self._sorted.get(storage)
        if ordered is None:
            ordered = sorted(self._objects.get(storage, {}))
            self._sorted[storage] = ordered
        lo, hi = 0, len(ordered)
        if namespace is not None:
            lo = bisect.bisect_left(ordered, (namespace, ""))
            hi = bisect.bisect_left(ordered, (namespace + "\x00", ""))
        if after is not None:
            lo = max(lo, bisect.bisect_right(ordered, after))
        return ordered[lo:hi]

    def iter_objects(self, storage: str, namespace: str | None) -> Iterator[Obj]:
        bucket = self._objects.get(storage, {})
        if namespace is None:
            yield from bucket.values()
            return
        for key in self.keys(storage, namespace):
            yield bucket[key]

    def namespaces_in_use(self, namespace: str) -> Iterator[tuple[str, Obj]]:
        for storage, bucket in self._objects.items():
            for (ns, _), obj in list(bucket.items()):
                if ns == namespace:
                    yield storage, obj

    # -- writes ------------------------------------------------------------------------------

    def next_rv(self) -> int:
        """The version the next write will be given (writers stamp it into the object)."""
        return self.rv + 1

    def put(self, storage: str, obj: Obj, old: Obj | None) -> Event:
        """Store ``obj`` (already stamped with ``next_rv()``): ADDED if ``old`` is None."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(storage, {})
        if key not in bucket:
            self._sorted[storage] = None
        bucket[key] = obj
        return self._append("ADDED" if old is None else "MODIFIED", storage, key[0], obj, old)

    def remove(self, storage: str, obj: Obj, old: Obj) -> Event:
        """Drop the object; ``obj`` is its final state stamped with ``next_rv()``."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.get(storage, {})
        if bucket.pop(key, None) is not None:
            self._sorted[storage] = None
        return self._append("DELETED", storage, key[0], obj, old)

    def _append(self, kind: str, storage: str, namespace: str, obj: Obj, old: Obj | None) -> Event:
        self.rv += 1
        event = Event(self.rv, kind, storage, namespace, obj, old)
        if not self._log:
            self._base = self.rv
        self._log.append(event)
        overflow = len(self._log) - self.history_size
        # Trim in chunks so appends stay amortised O(1) while the log stays bounded.
        if overflow > max(64, self.history_size // 8):
            del self._log[:overflow]
            self._base = self._log[0].rv
            self.floor = self._base - 1
        self._wake()
        return event

    # -- the watch side ----------------------------------------------------------------------

    def events_after(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > ``rv``; None when ``rv`` predates the history."""
        if rv < self.floor:
            return None
        if not self._log or rv >= self.rv:
            return []
        start = max(0, rv + 1 - self._base)
        return self._log[start:]

    def changed(self) -> asyncio.Event:
        """An event set at the next write (take it before reading, then wait on it)."""
        self._armed = True
        return self._changed

    def _wake(self) -> None:
        # Bulk loads with nobody watching skip the Event churn entirely.
        if not self._armed:
            return
        self._armed = False
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    def expire_history(self) -> None:
        """Forget every past event: any watch resuming from an older version gets 410."""
        self._log.clear()
        self.floor = self.rv
        self._base = self.rv + 1

    def close_watches(self) -> None:
        self.watch_epoch += 1
        self._wake()

    def clear(self) -> None:
        """Drop every object (for fixture reset); versions keep increasing."""
        self._objects.clear()
        self._sorted.clear()
        self.expire_history()
        self.close_watches()
